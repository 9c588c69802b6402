/**
 * Recovery of one shard on open: check every segment header, scan the last segment, cut a torn tail,
 * and say exactly what was cut. Runs inside the shard's own writer thread, so shards recover in parallel.
 *
 * Rules (docs/FORMAT.md, "Recovery"):
 * - The scan stops at the first record whose length, type, CRC or padding is wrong.
 * - If no valid record follows it, or only zero bytes lie between it and the next valid record
 *   (a hole left by a write the OS had not yet flushed), the rest of the file was never made durable:
 *   it is cut (ftruncate + fsync) and reported.
 * - Otherwise it is corruption of data that was synced: CorruptLogError naming file and offset,
 *   unless skipCorrupt is set, in which case the bad bytes are skipped and counted.
 * - A last segment shorter than its header, or holding only zero bytes (a crash while creating it,
 *   before its header was synced: no record can follow an unsynced header), is removed.
 */
import * as fs from 'node:fs';
import { CorruptLogError, LogFormatError } from './errors.js';
import { align8, type Format } from './record-layout.js';
import {
  checkRecord,
  decodeSegmentHeader,
  isUnfinishedSegment,
  tornOrCorrupt,
  fsyncDir,
  listSegments,
  readSeq,
  REASONS,
  SEGMENT_HEADER_BYTES,
  type SegmentRef,
} from './segment.js';
import * as path from 'node:path';

export interface ShardRecovery {
  shard: number;
  /** Segment files found (after any empty last segment was removed). */
  segments: number;
  /** Segments whose records were scanned. */
  segmentsScanned: number;
  /** Records found valid in the scanned segments. */
  records: number;
  /** Highest sequence number in the shard (framed format), 0 if none. */
  lastSeq: number;
  /** Lines format: newline-terminated lines in the last segment. */
  lines: number;
  /** Bytes cut from the tail of the last segment. */
  bytesCut: number;
  /** The file that was cut, and where. */
  cutFile?: string;
  cutOffset?: number;
  /** Why the scan stopped where it cut. */
  cutReason?: string;
  /** With skipCorrupt: corrupt regions skipped before the tail, and their bytes. */
  skippedRegions: number;
  skippedBytes: number;
  /** Files removed (a last segment left shorter than its header by a crash). */
  removedFiles: string[];
  /** The segment the writer should append to, if any, and its size after recovery. */
  tail?: { file: string; firstSeq: number; size: number; maxSeq: number };
}

export interface RecoverOptions {
  skipCorrupt?: boolean;
}

export function recoverShard(dir: string, shard: number, format: Format, opts: RecoverOptions = {}): ShardRecovery {
  const report: ShardRecovery = {
    shard,
    segments: 0,
    segmentsScanned: 0,
    records: 0,
    lastSeq: 0,
    lines: 0,
    bytesCut: 0,
    skippedRegions: 0,
    skippedBytes: 0,
    removedFiles: [],
  };
  let segs = listSegments(dir, shard, format);
  // A segment is a regular file we created: anything else under that name (a link, a device) is
  // refused and left alone, never truncated or removed.
  for (const s of segs) {
    if (!fs.lstatSync(s.file).isFile()) throw new LogFormatError(s.file, 'not a regular file: refusing to use it as a segment');
  }
  if (format === 'framed') {
    // Every header must be ours: a foreign or future file anywhere is refused before anything is cut.
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      const size = fs.statSync(s.file).size;
      const head = readHead(s.file);
      if (i === segs.length - 1 && isUnfinishedSegment(head, size)) continue; // handled below
      const h = decodeSegmentHeader(head, s.file);
      if (h.shard !== shard) throw new LogFormatError(s.file, `segment belongs to shard ${h.shard}, found in shard ${shard}`);
      if (h.firstSeq !== s.firstSeq) throw new LogFormatError(s.file, `segment header says first seq ${h.firstSeq}, its name says ${s.firstSeq}`);
    }
  }
  // A crash between creating a segment and its first sync leaves a short file, or one whose header
  // never reached the disk (zeros): nothing in it was ever acknowledged (the header is synced with the
  // first records, before their ack). Remove it.
  while (segs.length > 0) {
    const last = segs[segs.length - 1];
    const size = fs.statSync(last.file).size;
    const torn = format === 'framed' ? isUnfinishedSegment(readHead(last.file), size) : size === 0;
    if (!torn) break;
    fs.unlinkSync(last.file);
    fsyncDir(path.dirname(last.file));
    report.removedFiles.push(last.file);
    segs = segs.slice(0, -1);
  }
  report.segments = segs.length;
  if (segs.length === 0) return report;
  const last = segs[segs.length - 1];
  if (format === 'framed') recoverFramedTail(last, report, opts);
  else recoverLinesTail(last, report);
  return report;
}

/** A framed segment whose creation never completed: shorter than its header, or zero bytes only. */

function readHead(file: string): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const b = new Uint8Array(SEGMENT_HEADER_BYTES);
    const n = fs.readSync(fd, b, 0, SEGMENT_HEADER_BYTES, 0);
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

function recoverFramedTail(seg: SegmentRef, report: ShardRecovery, opts: RecoverOptions): void {
  const buf = fs.readFileSync(seg.file);
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.length);
  const header = decodeSegmentHeader(u8, seg.file);
  const size = u8.length;
  let maxSeq = header.prevMaxSeq;
  let off = SEGMENT_HEADER_BYTES;
  let cutReason: string | undefined;
  report.segmentsScanned = 1;
  while (off < size) {
    const len = checkRecord(u8, dv, off, size);
    if (len > 0 && off + align8(len) <= size) {
      const seq = readSeq(dv, off);
      if (seq > maxSeq) maxSeq = seq;
      report.records++;
      off += align8(len);
      continue;
    }
    const reason = len > 0 ? 'record padding runs past the end of the file' : REASONS[len];
    const { torn, next } = tornOrCorrupt(u8, dv, off, size);
    if (torn) {
      cutReason = reason + (next < 0 ? '' : ' (an unflushed zero-filled hole; later records were never durable)');
      break;
    }
    if (!opts.skipCorrupt) throw new CorruptLogError(seg.file, off, `${reason}, and valid records follow at offset ${next}`);
    report.skippedRegions++;
    report.skippedBytes += next - off;
    off = next;
  }
  if (off < size) cut(seg.file, off, size, report, cutReason ?? 'torn record');
  report.lastSeq = maxSeq;
  report.tail = { file: seg.file, firstSeq: seg.firstSeq, size: off, maxSeq };
}

function recoverLinesTail(seg: SegmentRef, report: ShardRecovery): void {
  const buf = fs.readFileSync(seg.file);
  const size = buf.length;
  let end = buf.lastIndexOf(10) + 1; // keep up to and including the last newline
  let lines = 0;
  for (let i = buf.indexOf(10); i >= 0 && i < end; i = buf.indexOf(10, i + 1)) lines++;
  report.segmentsScanned = 1;
  report.lines = lines;
  report.records = lines;
  if (end < size) cut(seg.file, end, size, report, 'line without its newline');
  if (end < 0) end = 0;
  report.tail = { file: seg.file, firstSeq: seg.firstSeq, size: end, maxSeq: seg.firstSeq + lines - 1 };
}

function cut(file: string, at: number, size: number, report: ShardRecovery, reason: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.ftruncateSync(fd, at);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  report.bytesCut = size - at;
  report.cutFile = file;
  report.cutOffset = at;
  report.cutReason = reason;
}
