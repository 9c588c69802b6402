/**
 * Recovery of one shard on open: check every segment header, scan the last segment, cut a torn tail,
 * and say exactly what was cut. Runs inside the shard's own writer thread, so shards recover in parallel.
 *
 * Rules (docs/FORMAT.md, "Recovery"):
 * - The scan stops at the first record (format version 1) or frame (version 2) whose length, type,
 *   CRC, chain or padding is wrong; a torn frame is cut whole.
 * - If no valid record follows it, or only zero bytes lie between it and the next valid record
 *   (a hole left by a write the OS had not yet flushed), the rest of the file was never made durable:
 *   it is cut (ftruncate + fsync) and reported.
 * - Otherwise it is corruption of data that was synced: CorruptLogError naming file and offset,
 *   unless skipCorrupt is set, in which case the bad bytes are skipped and counted.
 * - A last segment that our own crash left before its header was synced (0 bytes, a header of zeros,
 *   or fewer than 40 bytes that begin the header we would have written) is removed: no record can
 *   follow an unsynced header. Any other file under a segment's name is a LogFormatError, never
 *   removed or cut: recovery only deletes what it wrote.
 * The scanning itself is segment-scanner.ts's and line-scanner.ts's; this module decides what to cut, remove or refuse.
 */
import type { KeyRing } from './encryption-keys.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptLogError, LogFormatError } from './errors.js';
import type { Format } from './record-layout.js';
import { fsyncDir, listSegments, type SegmentRef } from './segment.js';
import { scanLineSegment } from './line-scanner.js';
import { readSegmentHeader } from './segment-header.js';
import { SegmentScanner } from './segment-scanner.js';

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
  /** Files removed (a last segment a crash left before its header reached the disk). */
  removedFiles: string[];
  /** The segment the writer should append to, if any, and its size after recovery. */
  tail?: {
    file: string;
    firstSeq: number;
    size: number;
    maxSeq: number;
    /** Framed: the segment's format version (the writer appends only to its own version's segments). */
    version?: number;
    /** Format version 2: the crc of the last frame kept (the next frame's prevCrc), -1 if unknown. */
    chainCrc?: number;
  };
}

export interface RecoverOptions {
  skipCorrupt?: boolean;
  /** Encrypted segments: the keys and the log id their segment keys are bound to. */
  keys?: KeyRing;
  logId?: string;
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
  // Every header must be ours: a foreign or future file anywhere is refused before anything is cut
  // or removed. A crash between creating the last segment and its first sync leaves one whose header
  // never reached the disk: nothing in it was ever acknowledged (the header is synced with the first
  // records, before their ack). Remove it.
  const unfinished = segs.map((s, i) => isUnfinished(s, format, i === segs.length - 1));
  if (unfinished.at(-1)) {
    const last = segs[segs.length - 1];
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

/**
 * Checks a segment's header; true if it is our own unfinished last segment (framed: see
 * isOwnUnfinishedHead; lines: 0 bytes). A foreign or damaged header is a LogFormatError.
 */
function isUnfinished(seg: SegmentRef, format: Format, last: boolean): boolean {
  if (format === 'lines') return last && fs.statSync(seg.file).size === 0;
  return readSegmentHeader(seg, last) === 'unfinished';
}

function recoverFramedTail(seg: SegmentRef, report: ShardRecovery, opts: RecoverOptions): void {
  const sc = new SegmentScanner(seg, { last: true, payloads: false, keys: opts.keys, logId: opts.logId });
  try {
    let maxSeq = sc.header!.prevMaxSeq;
    report.segmentsScanned = 1;
    for (;;) {
      while (sc.next()) {
        if (sc.seq > maxSeq) maxSeq = sc.seq;
        report.records++;
      }
      const v = sc.verdict!;
      if (v.kind === 'corrupt') {
        if (!opts.skipCorrupt) throw new CorruptLogError(seg.file, v.offset, v.reason.message);
        report.skippedRegions++;
        report.skippedBytes += v.bytes;
        sc.resume();
        continue;
      }
      let end = sc.position;
      if (v.kind === 'torn') {
        cut(seg.file, v.offset, v.offset + v.bytes, report, v.reason.message);
        end = v.offset;
      }
      report.lastSeq = maxSeq;
      report.tail = { file: seg.file, firstSeq: seg.firstSeq, size: end, maxSeq, version: sc.version, chainCrc: sc.chainCrc };
      return;
    }
  } finally {
    sc.close();
  }
}

function recoverLinesTail(seg: SegmentRef, report: ShardRecovery): void {
  const { size, lines, end } = scanLineSegment(seg.file);
  report.segmentsScanned = 1;
  report.lines = lines;
  report.records = lines;
  if (end < size) cut(seg.file, end, size, report, 'line without its newline');
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
