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
 * - a segment that is gone when its turn comes (retention removed it meanwhile) is `removed`, not an error.
 * The reading and the verdicts are segment-scanner.ts's; this module turns them into a SegmentCheck.
 */
import { LogFormatError, KeyError } from './errors.js';
import { SegmentScanner } from './segment-scanner.js';

/** What kind of problem: a header that is not ours, damaged records, seqs out of order, a broken link. */
export type VerifyIssueKind = 'format' | 'corrupt' | 'order' | 'chain' | 'key';

export interface VerifyIssue {
  /** Byte offset in the file. */
  offset: number;
  reason: string;
  /** Bytes of the bad region (up to the next valid record or the end of the file); 0 for header and order problems. */
  bytes: number;
  kind: VerifyIssueKind;
  /** kind 'key': the key id the segment asks for. */
  keyId?: string;
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
  /** True when the file was gone when its turn came (retention removed it): nothing was checked. */
  removed?: boolean;
}

export interface SegmentTask {
  file: string;
  shard: number;
  firstSeq: number;
  /** The shard's last segment (where a torn tail is expected after a crash). */
  isLast: boolean;
  /** An encrypted log: its keys (plain object: tasks cross to pool threads) and id. */
  keys?: Record<string, Uint8Array>;
  logId?: string;
}

export function verifySegment(task: SegmentTask): SegmentCheck {
  const { file, shard, firstSeq, isLast } = task;
  const out: SegmentCheck = { file, shard, firstSeq, bytes: 0, records: 0, minSeq: 0, maxSeq: 0, prevMaxSeq: -1, errors: [] };
  let sc: SegmentScanner;
  try {
    const keys = task.keys ? { keyId: undefined, keys: new Map(Object.entries(task.keys)) } : undefined;
    sc = new SegmentScanner(task, { last: isLast, payloads: false, keys, logId: task.logId });
  } catch (e) {
    if (e instanceof KeyError) {
      out.errors.push({ offset: 0, reason: e.message, bytes: 0, kind: 'key', keyId: e.keyId });
      return out;
    }
    // not ours (LogFormatError), or not readable at all (a directory, no permission)
    const reason = e instanceof LogFormatError ? e.message.slice(file.length + 2) : `cannot read: ${(e as Error).message}`;
    out.errors.push({ offset: 0, reason, bytes: 0, kind: 'format' });
    return out;
  }
  try {
    out.bytes = sc.bytes;
    const v = sc.verdict;
    if (v?.kind === 'removed') out.removed = true;
    if (v?.kind === 'unfinished' && sc.bytes > 0) out.torn = { offset: 0, bytes: sc.bytes, reason: 'segment header was never written (a crash while creating the segment)' };
    if (!sc.header) return out;
    out.prevMaxSeq = sc.header.prevMaxSeq;
    try {
      scanRecords(sc, out);
    } catch (e) {
      if (!(e instanceof KeyError)) throw e;
      out.errors.push({ offset: 0, reason: e.message, bytes: 0, kind: 'key', keyId: e.keyId });
    }
    out.bytes = sc.bytes;
  } finally {
    sc.close();
  }
  return out;
}

function scanRecords(sc: SegmentScanner, out: SegmentCheck): void {
  let last = -1;
  for (;;) {
    while (sc.next()) {
      const seq = sc.seq;
      // (a segment's name is the first seq it was created for; after a crash cut all its records,
      // the records appended to it later may start elsewhere: what must hold is the order)
      if (out.records === 0 && seq <= out.prevMaxSeq) out.errors.push({ offset: sc.offset, reason: `first record has seq ${seq}, not above the previous segment's last seq ${out.prevMaxSeq} (from the header)`, bytes: 0, kind: 'order' });
      if (seq <= last) out.errors.push({ offset: sc.offset, reason: `seq ${seq} does not rise above the previous record's ${last}`, bytes: 0, kind: 'order' });
      if (out.records === 0) out.minSeq = seq;
      if (seq > out.maxSeq) out.maxSeq = seq;
      last = seq;
      out.records++;
    }
    const v = sc.verdict!;
    if (v.kind === 'torn') out.torn = { offset: v.offset, bytes: v.bytes, reason: v.reason.message };
    if (v.kind !== 'corrupt') return;
    out.errors.push({ offset: v.offset, reason: v.reason.message, bytes: v.bytes, kind: 'corrupt' });
    if (v.resumeAt < 0) return;
    sc.resume();
  }
}
