/**
 * Following a log: entries as they become durable, in global sequence order.
 *
 * ShardCursor reads one shard's segment files incrementally (it remembers file and offset, moves to
 * the next segment when the writer rolls, and never yields a record whose CRC fails). followLog
 * merges the shards' cursors for Log.follow(): it only yields seqs up to a watermark that is durable
 * in EVERY shard, so the merge never has to take back an order. The `tail -f` command drives the same
 * cursors by polling, for a log written by another process.
 *
 * The watermark, per shard, is the ring protocol's durableBound (ring-protocol.ts, docs/FORMAT.md
 * 2.4): an idle shard cannot hold any seq below the log's next seq (read first), a busy one is
 * bounded by the highest seq its writer made durable. It wakes on each shard's I_DURABLE_EPOCH
 * (Atomics.waitAsync), like Producer.durable().
 */
import type { ReadKeys } from './reader.js';
import {
  B_SEGMENTS,
  CONTROL_BYTES,
  CorruptLogError,
  durableBound,
  G_STATE,
  I_DURABLE_EPOCH,
  listSegments,
  SegmentScanner,
  ShardFailedError,
  STATE_CLOSED,
  STATE_FAILED,
  TYPE_UTF8,
  type SegmentRef,
  zeroKeyRing,
} from '@shardlog/workers';
import { Rec as Entry, type LogEntry } from './reader.js';

/** Where a cursor stands on a record that is not (yet) whole and valid. */
export interface Stuck {
  file: string;
  offset: number;
  reason: string;
}

/**
 * One shard's records from `fromSeq` on, read incrementally from its segment files through a live
 * SegmentScanner. next() returns undefined when no whole valid record with seq <= limit is there
 * yet; call it again later. It never skips a bad record: it stays on it (see `stuck`) until it
 * becomes valid (a write still in progress) or the caller decides it is corruption (diagnose()).
 */
export class ShardCursor {
  readonly shard: number;
  /** Set while the record at the cursor is not (yet) whole and valid. */
  stuck: Stuck | undefined;
  private readonly dir: string;
  private readonly fromSeq: number;
  private readonly chunkBytes: number;
  private segs: SegmentRef[] = [];
  private listedGen = Number.NaN;
  private seg: SegmentRef | undefined;
  private sc: SegmentScanner | undefined;

  constructor(
    dir: string,
    shard: number,
    fromSeq: number,
    chunkBytes = 1 << 20,
    /** An encrypted log: the keys its segments open with (readKeysOf). */
    private readonly keys?: ReadKeys,
  ) {
    this.dir = dir;
    this.shard = shard;
    this.fromSeq = fromSeq;
    this.chunkBytes = chunkBytes;
  }

  /** File and offset of the next record (for messages). */
  get position(): { file: string | undefined; offset: number } {
    return { file: this.seg?.file, offset: this.sc?.position ?? 0 };
  }

  /**
   * The next record with seq <= limit, or undefined. `gen` changes whenever new segments may exist
   * (the writer's segment counter, or a poll count): the directory is listed again only then.
   */
  next(limit: number, gen: number): LogEntry | undefined {
    for (;;) {
      if (!this.sc && !this.openFirst(gen)) return undefined;
      const sc = this.sc!;
      let ok = sc.next();
      if (!ok && this.newerSegment(gen) !== undefined) {
        // The writer synced and closed this file before it created the next one: look once more,
        // as at a segment that is not the shard's last (where nothing is unwritten, or torn).
        if (sc.last) {
          sc.last = false;
          sc.live = false;
          ok = sc.next();
        }
        if (!ok && sc.verdict!.kind === 'clean') {
          this.openNext(gen);
          continue;
        }
      }
      if (ok) {
        this.stuck = undefined;
        if (sc.seq > limit) {
          sc.seek(sc.offset); // not yet: read it again next time
          return undefined;
        }
        if (sc.seq < this.fromSeq) continue;
        return new Entry(sc.seq, this.shard, sc.payload(), sc.type === TYPE_UTF8);
      }
      const v = sc.verdict!;
      this.stuck = v.kind === 'live-end' || v.kind === 'torn' || v.kind === 'corrupt' ? { file: sc.file, offset: v.offset, reason: v.reason.message } : undefined;
      return undefined;
    }
  }

  /**
   * If the cursor is stuck on a bad record and valid records follow it across non-zero bytes (the
   * recovery rule), or it is in a segment that is not the shard's last, that is corruption: returns
   * the error. undefined if it looks like a torn (or not yet written) end.
   */
  diagnose(): CorruptLogError | undefined {
    if (!this.stuck || !this.sc) return undefined;
    const v = this.sc.diagnose();
    if (v?.kind !== 'corrupt') return undefined;
    return new CorruptLogError(this.sc.file, v.offset, v.reason.message);
  }

  close(): void {
    this.sc?.close();
    this.sc = undefined;
  }

  private list(gen: number): void {
    this.segs = listSegments(this.dir, this.shard, 'framed');
    this.listedGen = gen;
  }

  private openFirst(gen: number): boolean {
    if (this.listedGen !== gen) this.list(gen);
    // the last segment whose first seq is <= fromSeq holds it (every earlier one ends below it)
    let i = 0;
    for (let k = 0; k < this.segs.length; k++) if (this.segs[k].firstSeq <= this.fromSeq) i = k;
    for (; i < this.segs.length; i++) if (this.open(this.segs[i])) return true;
    return false;
  }

  private newerSegment(gen: number): SegmentRef | undefined {
    const cur = this.seg!.firstSeq;
    let n = this.segs.find((s) => s.firstSeq > cur);
    if (!n && this.listedGen !== gen) {
      this.list(gen);
      n = this.segs.find((s) => s.firstSeq > cur);
    }
    return n;
  }

  private openNext(gen: number): void {
    const cur = this.seg!.firstSeq;
    this.close();
    for (const s of this.segs) if (s.firstSeq > cur && this.open(s)) return;
    // removed meanwhile (retention): list again
    this.list(gen);
    for (const s of this.segs) if (s.firstSeq > cur && this.open(s)) return;
  }

  /** Open a segment and check its header; false if it is gone or its header is not there yet. */
  private open(s: SegmentRef): boolean {
    const sc = new SegmentScanner(s, { last: true, live: true, chunkBytes: this.chunkBytes, keys: this.keys?.keys, logId: this.keys?.logId });
    if (!sc.header) {
      sc.close(); // removed (retention), or being created by a writer in another process
      return false;
    }
    this.sc = sc;
    this.seg = s;
    return true;
  }
}

/** Merge cursors by seq: yields every record with seq <= limit that the files hold now. */
export function* mergeCursors(cursors: ShardCursor[], heads: (LogEntry | undefined)[], limit: number, gen: (shard: number) => number): Generator<LogEntry> {
  for (;;) {
    let best = -1;
    for (let i = 0; i < cursors.length; i++) {
      if (!heads[i]) heads[i] = cursors[i].next(limit, gen(i));
      const h = heads[i];
      if (h && (best < 0 || h.seq < heads[best]!.seq)) best = i;
    }
    if (best < 0) return;
    const e = heads[best]!;
    heads[best] = undefined;
    yield e;
  }
}

export interface FollowOptions {
  /** First seq to yield. Default: the log's next seq when follow() is called (only new entries). */
  fromSeq?: number;
}

/** @internal What a Log hands to followLog. */
export interface FollowSource {
  dir: string;
  rings: SharedArrayBuffer[];
  global: SharedArrayBuffer;
  nextSeq(): number;
  failure(): Error | undefined;
  /** An encrypted log: the keys to open its segments (a copy of its own: zeroed when the follow ends). */
  keys?: ReadKeys;
}

/** How often the watchers look even without a notify (a missed wake costs at most this). */
const WATCH_MS = 250;

interface ShardWatch {
  i32: Int32Array;
  b64: BigInt64Array;
}

/** @internal Log.follow(): durable entries in seq order, until the log closes. */
export async function* followLog(src: FollowSource, fromSeq: number): AsyncGenerator<LogEntry> {
  const g32 = new Int32Array(src.global);
  const shards: ShardWatch[] = src.rings.map((sab) => ({
    i32: new Int32Array(sab),
    b64: new BigInt64Array(sab, 0, CONTROL_BYTES / 8),
  }));
  const cursors = shards.map((_, s) => new ShardCursor(src.dir, s, fromSeq, undefined, src.keys));
  const heads: (LogEntry | undefined)[] = shards.map(() => undefined);
  const gen = (s: number) => Number(Atomics.load(shards[s].b64, B_SEGMENTS));

  let stopped = false;
  let rung = false;
  let wake: (() => void) | undefined;
  const ring = () => {
    rung = true;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const watch = async (i32: Int32Array, index: number) => {
    while (!stopped) {
      const v = Atomics.load(i32, index);
      const r = Atomics.waitAsync(i32, index, v, WATCH_MS);
      if (r.async) await r.value;
      ring();
    }
  };

  /** The highest seq such that every record at or below it, in every shard, is durable. */
  const watermark = (): number => {
    const next = src.nextSeq(); // read first: see the reasoning in the header comment
    let wm = Number.MAX_SAFE_INTEGER;
    for (const sh of shards) wm = Math.min(wm, durableBound(sh.i32, sh.b64, next));
    return wm;
  };

  for (const sh of shards) void watch(sh.i32, I_DURABLE_EPOCH);
  void watch(g32, G_STATE);
  try {
    for (;;) {
      rung = false;
      const state = Atomics.load(g32, G_STATE);
      // Closed: every writer drained and synced, so every whole record on disk is durable.
      const wm = state === STATE_CLOSED ? Number.MAX_SAFE_INTEGER : watermark();
      yield* mergeCursors(cursors, heads, wm, gen);
      if (state === STATE_FAILED) throw src.failure() ?? new ShardFailedError(-1, 'the log failed', { cause: new Error('the log failed') });
      if (state === STATE_CLOSED) {
        for (const c of cursors) {
          if (!c.stuck) continue;
          throw c.diagnose() ?? new CorruptLogError(c.stuck.file, c.stuck.offset, `${c.stuck.reason} (after the log closed)`);
        }
        return;
      }
      if (!rung) await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stopped = true;
    for (const c of cursors) c.close();
    zeroKeyRing(src.keys?.keys); // this follow's own copy
  }
}
