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
 *
 * Corruption never stalls a follow, nor is it passed over without a word: a cursor stuck on a bad
 * record with valid records after it (diagnose()) is a CorruptLogError, as soon as the merge would
 * yield another shard's entry past it, or else when it is still there a wake later. With
 * skipCorrupt the cursors read past it at once instead, as recovery and readLog({ skipCorrupt }) do.
 * Bad bytes that hold only seqs below fromSeq (e.g. a region recovery skipped, before a follow of
 * new entries) are passed either way. The same holds between segments: each segment header names
 * the highest seq of the segment before it (prevMaxSeq), and a cursor that read that segment checks
 * the link as readLog does, so a deleted or cut segment is a CorruptLogError naming the later file
 * (with skipCorrupt: reported once, and read past).
 */
import * as fs from 'node:fs';
import {
  B_SEGMENTS,
  chainBreak,
  CONTROL_BYTES,
  CorruptLogError,
  durableBound,
  G_STATE,
  I_DURABLE_EPOCH,
  InvalidArgumentError,
  listSegments,
  SegmentScanner,
  ShardFailedError,
  STATE_CLOSED,
  STATE_FAILED,
  TYPE_UTF8,
  type ScanVerdict,
  type SegmentRef,
  zeroKeyRing,
} from '@shardlog/workers';
import { mayPass, Rec as Entry, skipOption, type Corrupt, type LogEntry, type ReadKeys, type SkipCorrupt, type SkippedRegion } from './reader.js';

/** Where a cursor stands on a record that is not (yet) whole and valid. */
export interface Stuck {
  file: string;
  offset: number;
  reason: string;
}

/**
 * One shard's records from `fromSeq` on, read incrementally from its segment files through a live
 * SegmentScanner. next() returns undefined when no whole valid record with seq <= limit is there
 * yet; call it again later. It does not skip a bad record: it stays on it (see `stuck`) until it
 * becomes valid (a write still in progress) or the caller decides it is corruption (diagnose()).
 * Two exceptions: corruption that holds only seqs below fromSeq is passed, and a cursor made with
 * `reportSkip` reads past corruption as soon as it is judged so, reporting each region to it.
 *
 * Moving on to the next segment it checks the link between the two (readShard's rule): the next
 * header's prevMaxSeq must be the highest seq of the segment just read, else a segment is missing or
 * was cut. Only what the cursor knows for sure is checked: not the link into the segment it started
 * in (it did not read the one before), not across a segment found removed (retention; as readShard),
 * and not when the segment just read is gone itself (retention removes whole segments oldest first,
 * so while it is there no later one was removed by retention; once it is gone, retention may have
 * taken the ones after it too, before the cursor came to them). A segment whose header is not
 * written yet (the writer is creating it) is waited for, not judged.
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
  /** Where (file, offset, file size) the stuck record was last judged not corrupt. */
  private judgedAt = '';
  /**
   * The highest seq of the segment being read (its header's prevMaxSeq until a record is read), what
   * the next segment's header must name; -1 when unknown (no segment open yet).
   */
  private segEnd = -1;

  constructor(
    dir: string,
    shard: number,
    fromSeq: number,
    chunkBytes = 1 << 20,
    /** An encrypted log: the keys its segments open with (readKeysOf). */
    private readonly keys?: ReadKeys,
    /** Read past corrupt regions, reporting each here (skipCorrupt). */
    private readonly reportSkip?: SkipCorrupt,
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
        // (else the next segment's header is not written yet: stay here, look again later)
        if (!ok && sc.verdict!.kind === 'clean' && this.openNext(gen)) continue;
      }
      if (ok) {
        this.stuck = undefined;
        if (sc.seq > this.segEnd) this.segEnd = sc.seq;
        if (sc.seq > limit) {
          sc.seek(sc.offset); // not yet: read it again next time
          return undefined;
        }
        if (sc.seq < this.fromSeq) continue;
        return new Entry(sc.seq, this.shard, sc.payload(), sc.type === TYPE_UTF8);
      }
      const v = sc.verdict!;
      this.stuck = v.kind === 'live-end' || v.kind === 'torn' || v.kind === 'corrupt' ? { file: sc.file, offset: v.offset, reason: v.reason.message } : undefined;
      // a 'corrupt' verdict is judged already (the record was read again); with `reportSkip`, a bad record
      // at a live end is judged at once too, so a merge never runs ahead of what lies after it
      if (this.stuck && (v.kind === 'corrupt' || this.reportSkip) && this.pass(v.kind === 'corrupt' ? v : this.judge())) continue;
      return undefined;
    }
  }

  /**
   * If the cursor is stuck on a bad record and valid records follow it across non-zero bytes (the
   * recovery rule), or it is in a segment that is not the shard's last, that is corruption: returns
   * the error. undefined if it looks like a torn (or not yet written) end, or if it was corruption
   * the cursor has now read past (only seqs below fromSeq in it, or `reportSkip`).
   */
  diagnose(): CorruptLogError | undefined {
    if (!this.stuck || !this.sc) return undefined;
    const v = this.judge();
    if (!v || this.pass(v)) return undefined;
    return new CorruptLogError(this.sc.file, v.offset, v.reason.message);
  }

  /**
   * The bad record the cursor is stuck on, judged afresh (SegmentScanner.diagnose()): its 'corrupt'
   * verdict, or undefined. A place found not corrupt is not judged again until the file has grown.
   */
  private judge(): Corrupt | undefined {
    const sc = this.sc!;
    const at = `${sc.file}:${this.stuck?.offset}:`;
    if (this.judgedAt === at + sc.bytes) return undefined;
    const v = sc.diagnose();
    if (v?.kind === 'corrupt') return v;
    this.judgedAt = at + sc.bytes;
    return undefined;
  }

  /** On corruption `v` (else false): read on past it if it may be passed (reader.ts mayPass), and say so. */
  private pass(v: ScanVerdict | undefined): boolean {
    const sc = this.sc!;
    if (v?.kind !== 'corrupt' || !mayPass(sc, v, this.fromSeq, this.keys, this.reportSkip)) return false;
    sc.verdict = v;
    sc.resume();
    this.stuck = undefined;
    return true;
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
    for (; i < this.segs.length; i++) {
      const sc = this.scan(this.segs[i]);
      if (sc === 'unfinished') return false; // being created: look again later
      if (sc === 'removed') continue; // (retention)
      this.take(this.segs[i], sc);
      return true;
    }
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

  /**
   * Move on to the segment after the current one (whose records are all read), checking the link
   * between them; false if its header is not written yet (the cursor stays where it is). A broken
   * link is a CorruptLogError naming the later segment (offset 0), or with `reportSkip` reported once.
   */
  private openNext(gen: number): boolean {
    const cur = this.seg!;
    let prevEnd = this.segEnd;
    let relisted = false;
    for (;;) {
      for (const s of this.segs) {
        if (s.firstSeq <= cur.firstSeq) continue;
        const sc = this.scan(s);
        if (sc === 'unfinished') return false; // being created by its writer: not judged, looked at again later
        if (sc === 'removed') {
          prevEnd = -1; // removed before the cursor came to it (retention): the chain starts afresh, as in readShard
          continue;
        }
        const broken = prevEnd >= 0 ? chainBreak(sc.header!.prevMaxSeq, prevEnd) : undefined;
        // retention unlinks a shard's segments oldest first: while `cur` is there, none after it went that way
        if (broken && fs.existsSync(cur.file)) {
          if (!this.reportSkip) {
            sc.close();
            throw new CorruptLogError(s.file, 0, broken);
          }
          this.reportSkip({ shard: this.shard, file: s.file, offset: 0, bytes: 0, reason: broken });
        }
        this.close();
        this.take(s, sc);
        return true;
      }
      if (relisted) return false;
      // removed meanwhile (retention), or not listed yet: list again
      this.list(gen);
      relisted = true;
    }
  }

  /**
   * Open a segment and check its header: the scanner, or 'removed' (gone: retention), or 'unfinished'
   * (its header is not there yet: being created by a writer, maybe in another process). A segment
   * that is not the last listed must have its header (else a LogFormatError, as in readShard): the
   * writer completes a segment's header before it creates the next one.
   */
  private scan(s: SegmentRef): SegmentScanner | 'removed' | 'unfinished' {
    const last = s === this.segs[this.segs.length - 1];
    const sc = new SegmentScanner(s, { last, live: true, chunkBytes: this.chunkBytes, keys: this.keys?.keys, logId: this.keys?.logId });
    if (!sc.header) {
      sc.close();
      return sc.verdict?.kind === 'removed' ? 'removed' : 'unfinished';
    }
    sc.last = true; // read as the shard's last segment (a torn end may be a write in progress) until a newer one shows
    return sc;
  }

  private take(s: SegmentRef, sc: SegmentScanner): void {
    this.sc = sc;
    this.seg = s;
    this.segEnd = sc.header!.prevMaxSeq;
  }
}

/**
 * Merge cursors by seq: yields every record with seq <= limit that the files hold now. It never runs
 * past a cursor stuck on a bad record before judging it (diagnose()): a durable record behind
 * corruption would come out of order, or be missing without a word; the corruption is thrown.
 */
export function* mergeCursors(cursors: ShardCursor[], heads: (LogEntry | undefined)[], limit: number, gen: (shard: number) => number): Generator<LogEntry> {
  for (;;) {
    let best = -1;
    for (let i = 0; i < cursors.length; i++) {
      if (!heads[i]) heads[i] = cursors[i].next(limit, gen(i));
      const h = heads[i];
      if (h && (best < 0 || h.seq < heads[best]!.seq)) best = i;
    }
    if (best < 0) return;
    if (judgeStuck(cursors, heads)) continue; // a cursor read past corruption: fill its head first
    const e = heads[best]!;
    heads[best] = undefined;
    yield e;
  }
}

/** Judge each cursor stuck without a head: corruption throws; true if one read past it instead. */
function judgeStuck(cursors: ShardCursor[], heads: (LogEntry | undefined)[]): boolean {
  let moved = false;
  for (let i = 0; i < cursors.length; i++) {
    const c = cursors[i];
    if (heads[i] || !c.stuck) continue;
    const err = c.diagnose();
    if (err) throw err;
    moved ||= !c.stuck;
  }
  return moved;
}

export interface FollowOptions {
  /** First seq to yield. Default: the log's next seq when follow() is called (only new entries). */
  fromSeq?: number;
  /**
   * Read past corrupt regions (default false: a corrupt record, one that is not the unwritten end of
   * the live segment, is a CorruptLogError). The same rule as readLog's skipCorrupt.
   */
  skipCorrupt?: boolean;
  /** With skipCorrupt: called with each corrupt region skipped, before the entries after it. */
  onSkip?: (region: SkippedRegion) => void;
}

const FOLLOW_OPTIONS = new Set(['fromSeq', 'skipCorrupt', 'onSkip']);

/**
 * follow()'s options, checked (an unknown key or a wrong value is an InvalidArgumentError; fromSeq
 * is Log.follow()'s to check): the skip callback of skipCorrupt, or undefined.
 */
export function checkFollowOptions(o: FollowOptions): SkipCorrupt | undefined {
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError('follow takes an options object, e.g. { fromSeq }');
  for (const k of Object.keys(o)) if (!FOLLOW_OPTIONS.has(k)) throw new InvalidArgumentError(`unknown follow option ${k}`);
  return skipOption(o.skipCorrupt, o.onSkip);
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

function noop(): void {}

/** How often the watchers look even without a notify (a missed wake costs at most this). */
const WATCH_MS = 250;

interface ShardWatch {
  i32: Int32Array;
  b64: BigInt64Array;
}

/**
 * @internal Log.follow(): durable entries in seq order, until the log closes. `options` (checked by
 * checkFollowOptions) gives skipCorrupt and onSkip.
 */
export async function* followLog(src: FollowSource, fromSeq: number, options: FollowOptions = {}): AsyncGenerator<LogEntry> {
  let skip: SkipCorrupt | undefined;
  try {
    skip = checkFollowOptions(options);
  } catch (e) {
    zeroKeyRing(src.keys?.keys); // this follow's own copy
    throw e;
  }
  const g32 = new Int32Array(src.global);
  const shards: ShardWatch[] = src.rings.map((sab) => ({
    i32: new Int32Array(sab),
    b64: new BigInt64Array(sab, 0, CONTROL_BYTES / 8),
  }));
  const cursors = shards.map((_, s) => new ShardCursor(src.dir, s, fromSeq, undefined, src.keys, skip));
  const stuckAt = cursors.map(() => '');
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
        if (closedStuck(cursors)) continue; // a cursor read past corruption: read on
        return;
      }
      if (checkStuck(cursors, stuckAt)) continue; // a cursor read past corruption: read on now
      if (!rung) {
        // a consumer waiting here is pending work: keep the process alive meanwhile (the writer
        // threads are unref'd and a timed Atomics.waitAsync does not hold the event loop), as
        // durable() does; only while waiting, so a follow nobody reads from holds nothing
        const keepAlive = setInterval(noop, 1 << 30);
        try {
          await new Promise<void>((r) => (wake = r));
        } finally {
          clearInterval(keepAlive);
        }
      }
    }
  } finally {
    stopped = true;
    for (const c of cursors) c.close();
    zeroKeyRing(src.keys?.keys); // this follow's own copy
  }
}

/**
 * After the log closed every whole record is durable: a cursor still on a bad record is on
 * corruption (CorruptLogError), unless it reads past it (then true: read on).
 */
function closedStuck(cursors: ShardCursor[]): boolean {
  for (const c of cursors) {
    if (!c.stuck) continue;
    const { file, offset, reason } = c.stuck;
    const err = c.diagnose();
    if (!c.stuck) return true;
    throw err ?? new CorruptLogError(file, offset, `${reason} (after the log closed)`);
  }
  return false;
}

/**
 * A cursor on the same bad record as at the last look (a wake ago: a write in progress would have
 * ended) is judged (diagnose()): corruption throws its CorruptLogError, so a follow never waits
 * forever on it. True if a cursor read past corruption instead (it has more to read now).
 */
function checkStuck(cursors: ShardCursor[], stuckAt: string[]): boolean {
  let moved = false;
  cursors.forEach((c, i) => {
    const at = c.stuck ? `${c.stuck.file}:${c.stuck.offset}` : '';
    if (at && at === stuckAt[i]) {
      const err = c.diagnose();
      if (err) throw err;
      moved ||= !c.stuck;
    }
    stuckAt[i] = c.stuck ? at : '';
  });
  return moved;
}
