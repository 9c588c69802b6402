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
import * as fs from 'node:fs';
import {
  align8,
  B_SEGMENTS,
  checkRecord,
  CONTROL_BYTES,
  CorruptLogError,
  decodeSegmentHeader,
  durableBound,
  isUnfinishedSegment,
  tornOrCorrupt,
  G_STATE,
  HEADER_BYTES,
  I_DURABLE_EPOCH,
  listSegments,
  LogFormatError,
  readSeq,
  readType,
  REASONS,
  SEGMENT_HEADER_BYTES,
  ShardFailedError,
  STATE_CLOSED,
  STATE_FAILED,
  TYPE_UTF8,
  type SegmentRef,
} from '@shardlog/workers';
import { Rec as Entry, type LogEntry } from './reader.js';

const EMPTY = Buffer.alloc(0);

type Parsed = { kind: 'rec'; seq: number; len: number } | { kind: 'eof' } | { kind: 'partial'; reason: string } | { kind: 'bad'; reason: string };

/** Where a cursor stands on a record that is not (yet) whole and valid. */
export interface Stuck {
  file: string;
  offset: number;
  reason: string;
}

/**
 * One shard's records from `fromSeq` on, read incrementally from its segment files.
 * next() returns undefined when no whole valid record with seq <= limit is there yet; call it again
 * later. It never skips a bad record: it stays on it (see `stuck`) until it becomes valid (a write
 * still in progress) or the caller decides it is corruption (diagnose()).
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
  private fd = -1;
  private buf: Buffer = EMPTY;
  private u8: Uint8Array = new Uint8Array(0);
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private bufStart = 0;
  private pos = 0;

  constructor(dir: string, shard: number, fromSeq: number, chunkBytes = 1 << 20) {
    this.dir = dir;
    this.shard = shard;
    this.fromSeq = fromSeq;
    this.chunkBytes = chunkBytes;
  }

  /** File and offset of the next record (for messages). */
  get position(): { file: string | undefined; offset: number } {
    return { file: this.seg?.file, offset: this.pos };
  }

  /**
   * The next record with seq <= limit, or undefined. `gen` changes whenever new segments may exist
   * (the writer's segment counter, or a poll count): the directory is listed again only then.
   */
  next(limit: number, gen: number): LogEntry | undefined {
    for (;;) {
      if (this.fd < 0 && !this.openFirst(gen)) return undefined;
      let r = this.parse();
      if (r.kind !== 'rec' && this.newerSegment(gen) !== undefined) {
        // The writer synced and closed this file before it created the next one: look once more.
        r = this.parse();
        if (r.kind === 'eof') {
          this.openNext(gen);
          continue;
        }
        if (r.kind !== 'rec') r = { kind: 'bad', reason: `${r.reason}, in a segment that is not the shard's last` };
      }
      if (r.kind === 'rec') {
        this.stuck = undefined;
        const seq = r.seq;
        if (seq > limit) return undefined;
        const o = this.pos - this.bufStart;
        this.pos += align8(r.len);
        if (seq < this.fromSeq) continue;
        return new Entry(seq, this.shard, this.buf.subarray(o + HEADER_BYTES, o + r.len), readType(this.u8, o) === TYPE_UTF8);
      }
      this.stuck = r.kind === 'eof' ? undefined : { file: this.seg!.file, offset: this.pos, reason: r.reason };
      return undefined;
    }
  }

  /**
   * If the cursor is stuck on a bad record and valid records follow it across non-zero bytes (the
   * recovery rule), that is corruption: returns the error. undefined if it looks like a torn tail.
   */
  diagnose(): CorruptLogError | undefined {
    if (!this.stuck || !this.seg) return undefined;
    const { file, offset, reason } = this.stuck;
    let rest: Buffer;
    try {
      rest = fs.readFileSync(file).subarray(offset);
    } catch {
      return undefined;
    }
    if (reason.endsWith("not the shard's last")) return new CorruptLogError(file, offset, reason);
    const u8 = new Uint8Array(rest.buffer, rest.byteOffset, rest.length);
    const dv = new DataView(rest.buffer, rest.byteOffset, rest.length);
    const { torn, next } = tornOrCorrupt(u8, dv, 0, rest.length);
    if (torn) return undefined;
    return new CorruptLogError(file, offset, `${reason}, and valid records follow at offset ${offset + next}`);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
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
    let fd: number;
    try {
      fd = fs.openSync(s.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const n = fs.readSync(fd, head, 0, SEGMENT_HEADER_BYTES, 0);
    if (isUnfinishedSegment(head.subarray(0, n), n)) {
      fs.closeSync(fd); // being created by a writer in another process: not there yet
      return false;
    }
    let h;
    try {
      h = decodeSegmentHeader(head, s.file);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (h.shard !== this.shard || h.firstSeq !== s.firstSeq) {
      fs.closeSync(fd);
      throw new LogFormatError(s.file, `segment header says shard ${h.shard}, first seq ${h.firstSeq}; its place says shard ${this.shard}, first seq ${s.firstSeq}`);
    }
    this.fd = fd;
    this.seg = s;
    this.setBuf(EMPTY, SEGMENT_HEADER_BYTES);
    this.pos = SEGMENT_HEADER_BYTES;
    return true;
  }

  private setBuf(b: Buffer, start: number): void {
    this.buf = b;
    this.bufStart = start;
    this.u8 = new Uint8Array(b.buffer, b.byteOffset, b.length);
    this.dv = new DataView(b.buffer, b.byteOffset, b.length);
  }

  /** Make the buffer hold at least n bytes from pos if the file has them; returns the bytes held from pos. */
  private ensure(n: number): number {
    const have = this.bufStart + this.buf.length - this.pos;
    if (have >= n) return have;
    const size = fs.fstatSync(this.fd).size;
    const end = Math.min(size, this.pos + Math.max(n, this.chunkBytes));
    if (end <= this.pos + have) return have;
    const nb = Buffer.allocUnsafe(end - this.pos);
    let got = this.buf.copy(nb, 0, this.pos - this.bufStart);
    while (got < nb.length) {
      const k = fs.readSync(this.fd, nb, got, nb.length - got, this.pos + got);
      if (k === 0) break;
      got += k;
    }
    this.setBuf(nb.subarray(0, got), this.pos);
    return got;
  }

  private parse(): Parsed {
    const avail = this.ensure(HEADER_BYTES);
    if (avail === 0) return { kind: 'eof' };
    if (avail < HEADER_BYTES) return { kind: 'partial', reason: REASONS[-1] };
    const len = this.buf.readInt32LE(this.pos - this.bufStart);
    if (len >= HEADER_BYTES && len <= 0x7ffffff0 && this.ensure(align8(len)) < align8(len)) {
      return { kind: 'partial', reason: len === align8(len) ? REASONS[-1] : 'record padding runs past the end of the file' };
    }
    const o = this.pos - this.bufStart;
    const l = checkRecord(this.u8, this.dv, o, this.buf.length);
    if (l < 0) return { kind: 'bad', reason: REASONS[l] };
    return { kind: 'rec', seq: readSeq(this.dv, o), len: l };
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
  const cursors = shards.map((_, s) => new ShardCursor(src.dir, s, fromSeq));
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
  }
}
