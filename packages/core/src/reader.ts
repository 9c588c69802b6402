/**
 * Readers: every valid record of a framed log, all shards merged into one order by sequence number.
 *
 * Each shard's records are in sequence order on disk (producers take the sequence number under the
 * same lock that reserves ring space), so a k-way merge by seq gives the exact global order. A shard
 * is read segment by segment in chunks; a record is only yielded after its CRC checks. Reading
 * stops quietly at a torn tail of a shard's last segment (what a crash or a live writer leaves); a
 * bad record anywhere else is a CorruptLogError naming the file and offset.
 */
import * as fs from 'node:fs';
import {
  align8,
  checkRecord,
  CorruptLogError,
  decodeSegmentHeader,
  isUnfinishedSegment,
  tornOrCorrupt,
  HEADER_BYTES,
  InvalidArgumentError,
  listSegments,
  listShardDirs,
  LogFormatError,
  readManifest,
  readSeq,
  readType,
  REASONS,
  SEGMENT_HEADER_BYTES,
  TYPE_UTF8,
  type SegmentRef,
} from '@shardlog/workers';

export interface LogEntry {
  seq: number;
  shard: number;
  /** The entry's bytes (a view; copy it if you keep it past the next chunk). */
  data: Uint8Array;
  /** True if the entry was appended as a string. */
  isText: boolean;
  /** The entry decoded as UTF-8. */
  text(): string;
}

export interface ReadOptions {
  dir: string;
  /** First sequence number to return (default: the oldest). */
  fromSeq?: number;
  /** Only these shards (default: all). */
  shards?: number[];
  /** Read chunk size in bytes (default 1 MiB). */
  chunkBytes?: number;
}

const decoder = new TextDecoder();

/** The entry readers and follow() yield. */
export class Rec implements LogEntry {
  constructor(
    readonly seq: number,
    readonly shard: number,
    readonly data: Uint8Array,
    readonly isText: boolean,
  ) {}
  text(): string {
    return decoder.decode(this.data);
  }
}

/** Yields the valid records of one shard from `fromSeq` on, in file order (which is seq order). */
export function* readShard(dir: string, shard: number, fromSeq = 0, chunkBytes = 1 << 20): Generator<LogEntry> {
  const segs = listSegments(dir, shard, 'framed');
  // the last segment whose first seq is <= fromSeq holds it (every earlier one ends below it)
  let first = 0;
  for (let i = 0; i < segs.length; i++) if (segs[i].firstSeq <= fromSeq) first = i;
  // The highest seq of the segment read just before (-1: none, or it was removed meanwhile): each
  // header names the previous segment's highest seq, so a missing segment is caught, not skipped.
  const chain = { prevEnd: -1 };
  for (let i = first; i < segs.length; i++) {
    yield* readSegment(segs[i], i === segs.length - 1, fromSeq, chunkBytes, chain);
  }
}

function* readSegment(seg: SegmentRef, isLast: boolean, fromSeq: number, chunkBytes: number, chain: { prevEnd: number }): Generator<LogEntry> {
  let fd: number;
  try {
    fd = fs.openSync(seg.file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      chain.prevEnd = -1;
      return; // removed by retention meanwhile
    }
    throw e;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < SEGMENT_HEADER_BYTES) {
      if (isLast) return; // being created, or cut short by a crash
      throw new CorruptLogError(seg.file, 0, 'segment shorter than its header');
    }
    const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
    fs.readSync(fd, head, 0, SEGMENT_HEADER_BYTES, 0);
    if (isLast && isUnfinishedSegment(head, size)) return; // created, header not yet synced (recovery removes it)
    const h = decodeSegmentHeader(head, seg.file);
    if (h.shard !== seg.shard) throw new LogFormatError(seg.file, `segment belongs to shard ${h.shard}, found in shard ${seg.shard}`);
    if (h.firstSeq !== seg.firstSeq) throw new LogFormatError(seg.file, `segment header says first seq ${h.firstSeq}, its name says ${seg.firstSeq}`);
    if (chain.prevEnd >= 0 && h.prevMaxSeq !== chain.prevEnd) {
      throw new CorruptLogError(seg.file, 0, `header says the previous segment ended at seq ${h.prevMaxSeq}, but it ended at seq ${chain.prevEnd}: a segment is missing or was cut`);
    }
    chain.prevEnd = h.prevMaxSeq;
    let filePos = SEGMENT_HEADER_BYTES; // file offset of buf[0]
    let buf = Buffer.alloc(0);
    let u8 = new Uint8Array(0);
    let dv = new DataView(u8.buffer);
    let off = 0;
    for (;;) {
      // make sure the next record header, and then the whole record, is in the buffer
      let avail = buf.length - off;
      let need = HEADER_BYTES;
      if (avail >= HEADER_BYTES) need = Math.max(HEADER_BYTES, align8(buf.readInt32LE(off)));
      if (avail < need && filePos + buf.length < size) {
        const keep = buf.subarray(off);
        const want = Math.max(chunkBytes, need);
        const next = Buffer.allocUnsafe(keep.length + Math.min(want, size - filePos - buf.length));
        keep.copy(next, 0);
        const n = fs.readSync(fd, next, keep.length, next.length - keep.length, filePos + buf.length);
        filePos += off;
        buf = next.subarray(0, keep.length + n);
        u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
        dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
        off = 0;
        continue;
      }
      if (avail === 0) return;
      const len = checkRecord(u8, dv, off, buf.length);
      if (len < 0 || off + align8(len) > buf.length) {
        // not a whole valid record: torn tail, or corruption
        const at = filePos + off;
        if (isLast) {
          // the same rule as recovery: if valid records follow across non-zero bytes, it is corruption
          const rest = fs.readFileSync(seg.file).subarray(at);
          const ru8 = new Uint8Array(rest.buffer, rest.byteOffset, rest.length);
          const rdv = new DataView(rest.buffer, rest.byteOffset, rest.length);
          if (tornOrCorrupt(ru8, rdv, 0, rest.length).torn) return;
          throw new CorruptLogError(seg.file, at, `${len < 0 ? REASONS[len] : 'record padding runs past the end of the file'}, and valid records follow`);
        }
        throw new CorruptLogError(seg.file, at, len < 0 ? REASONS[len] : 'record padding runs past the end of the file');
      }
      const seq = readSeq(dv, off);
      if (seq > chain.prevEnd) chain.prevEnd = seq;
      if (seq >= fromSeq) {
        const type = readType(u8, off);
        yield new Rec(seq, seg.shard, buf.subarray(off + HEADER_BYTES, off + len), type === TYPE_UTF8);
      }
      off += align8(len);
      avail = buf.length - off;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Every valid entry of a framed log, in sequence order across all shards.
 * Works on a closed log and on one being written (it reads what is on disk now).
 */
export async function* readLog(options: ReadOptions): AsyncGenerator<LogEntry> {
  yield* readLogSync(options);
}

/** The same as readLog, synchronously. */
export function* readLogSync(options: ReadOptions): Generator<LogEntry> {
  if (!options || typeof options.dir !== 'string') throw new InvalidArgumentError('readLog takes { dir }');
  const fromSeq = options.fromSeq ?? 0;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) throw new InvalidArgumentError(`fromSeq must be a non-negative integer, got ${String(fromSeq)}`);
  const manifest = readManifest(options.dir);
  if (manifest && manifest.format !== 'framed') throw new InvalidArgumentError(`log ${options.dir} is in '${manifest.format}' format: read its .log files as text`);
  if (!fs.existsSync(options.dir)) throw new InvalidArgumentError(`no log at ${options.dir}`);
  const shardIds = options.shards ?? listShardDirs(options.dir);
  const its = shardIds.map((s) => readShard(options.dir, s, fromSeq, options.chunkBytes));
  const heads: (LogEntry | undefined)[] = its.map((it) => {
    const r = it.next();
    return r.done ? undefined : r.value;
  });
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h && (best < 0 || h.seq < heads[best]!.seq)) best = i;
    }
    if (best < 0) return;
    const e = heads[best]!;
    const r = its[best].next();
    heads[best] = r.done ? undefined : r.value;
    yield e;
  }
}

