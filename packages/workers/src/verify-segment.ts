/**
 * Check one framed segment file from end to end: its header, every record's length, type and CRC,
 * and that sequence numbers rise. Pure and synchronous: the piscina task (verify-task.ts) runs it
 * in a pool thread, one segment per task, and tests call it directly.
 *
 * The verdict on a bad record follows the recovery rules (recovery.ts, docs/FORMAT.md):
 * - in a shard's LAST segment, a bad record with no valid record after it (or only zero bytes up
 *   to the next valid one) is a torn tail: what a crash leaves, cut by recovery on the next open.
 *   It is reported in `torn`, and is not an error.
 * - anything else (a bad record followed by valid ones across non-zero bytes, or any bad record in
 *   a segment that is not the last: those were synced before the next segment was created) is an
 *   error, reported with its offset; the scan resumes at the next valid record.
 */
import * as fs from 'node:fs';
import { LogFormatError } from './errors.js';
import { align8 } from './record-layout.js';
import { checkRecord, decodeSegmentHeader, isUnfinishedSegment, readSeq, REASONS, SEGMENT_HEADER_BYTES, tornOrCorrupt } from './segment.js';

export interface VerifyIssue {
  /** Byte offset in the file. */
  offset: number;
  reason: string;
  /** Bytes of the bad region (up to the next valid record or the end of the file); 0 for header and order problems. */
  bytes: number;
}

export interface SegmentCheck {
  file: string;
  shard: number;
  /** First seq, from the file name. */
  firstSeq: number;
  /** File size. */
  bytes: number;
  /** Valid records. */
  records: number;
  /** Lowest and highest seq of the valid records (0 when none). */
  minSeq: number;
  maxSeq: number;
  /** The header's "highest seq of the previous segment" (-1 when the header is unreadable). */
  prevMaxSeq: number;
  /** Corruption: each bad region's first offset and why. */
  errors: VerifyIssue[];
  /** Last segment only: the torn tail recovery would cut (offset, bytes, why). */
  torn?: { offset: number; bytes: number; reason: string };
}

export interface SegmentTask {
  file: string;
  shard: number;
  firstSeq: number;
  /** The shard's last segment (where a torn tail is expected after a crash). */
  isLast: boolean;
}

export function verifySegment(task: SegmentTask): SegmentCheck {
  const { file, shard, firstSeq, isLast } = task;
  const out: SegmentCheck = { file, shard, firstSeq, bytes: 0, records: 0, minSeq: 0, maxSeq: 0, prevMaxSeq: -1, errors: [] };
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    out.errors.push({ offset: 0, reason: `cannot read: ${(e as Error).message}`, bytes: 0 });
    return out;
  }
  const size = buf.length;
  out.bytes = size;
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, size);
  const dv = new DataView(u8.buffer, u8.byteOffset, size);
  // A last segment shorter than its header, or with an all-zero header, is a crash while creating it.
  if (isLast && isUnfinishedSegment(u8, size)) {
    if (size > 0) out.torn = { offset: 0, bytes: size, reason: 'segment header was never written (a crash while creating the segment)' };
    return out;
  }
  try {
    const h = decodeSegmentHeader(u8, file);
    out.prevMaxSeq = h.prevMaxSeq;
    if (h.shard !== shard) out.errors.push({ offset: 0, reason: `segment header says shard ${h.shard}, found in shard ${shard}`, bytes: 0 });
    if (h.firstSeq !== firstSeq) out.errors.push({ offset: 0, reason: `segment header says first seq ${h.firstSeq}, its name says ${firstSeq}`, bytes: 0 });
  } catch (e) {
    out.errors.push({ offset: 0, reason: e instanceof LogFormatError ? e.message.slice(file.length + 2) : String(e), bytes: 0 });
    return out;
  }
  let off = SEGMENT_HEADER_BYTES;
  let last = -1;
  while (off < size) {
    const len = checkRecord(u8, dv, off, size);
    if (len > 0 && off + align8(len) <= size) {
      const seq = readSeq(dv, off);
      // (a segment's name is the first seq it was created for; after a crash cut all its records,
      // the records appended to it later may start elsewhere: what must hold is the order)
      if (out.records === 0 && seq <= out.prevMaxSeq) out.errors.push({ offset: off, reason: `first record has seq ${seq}, not above the previous segment's last seq ${out.prevMaxSeq} (from the header)`, bytes: 0 });
      if (seq <= last) out.errors.push({ offset: off, reason: `seq ${seq} does not rise above the previous record's ${last}`, bytes: 0 });
      if (out.records === 0) out.minSeq = seq;
      if (seq > out.maxSeq) out.maxSeq = seq;
      last = seq;
      out.records++;
      off += align8(len);
      continue;
    }
    const reason = len > 0 ? 'record padding runs past the end of the file' : REASONS[len];
    const { torn, next } = tornOrCorrupt(u8, dv, off, size);
    if (torn) {
      if (isLast) out.torn = { offset: off, bytes: size - off, reason };
      else out.errors.push({ offset: off, reason: `${reason} (${size - off} bytes to the end of a segment that is not the shard's last)`, bytes: size - off });
      break;
    }
    out.errors.push({ offset: off, reason: `${reason}; valid records resume at offset ${next}`, bytes: next - off });
    off = next;
  }
  return out;
}
