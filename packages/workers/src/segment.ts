/**
 * Segment files: names, the 40-byte header of framed segments (encoding; segment-scanner.ts reads
 * and checks it), and the check of one record in memory.
 *
 * Layout of a log directory:
 *   <dir>/shardlog.json                      manifest: format version, record format, shard count, id
 *   <dir>/shardlog.lock                      lock file (pid, start time and token of the process that has the log open)
 *   <dir>/<shard:3 digits>/<firstSeq:20 digits>.wal   framed segments (.log in lines format)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32cUpdate, maskCrc, recordCrc } from './crc32c.js';
import { LogFormatError } from './errors.js';
import { FORMAT_FRAMED, H_LEN, H_SEQ_HI, H_SEQ_LO, HEADER_BYTES, SEQ_HI_MASK, TYPE_BYTES, TYPE_SHIFT, TYPE_UTF8, type Format } from './record-layout.js';

export const SEGMENT_MAGIC = 'SHARDLOG';
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 40;
export const LOCK_FILE = 'shardlog.lock';
// The manifest and the durable-file helpers live in manifest.ts; fsyncDir is re-exported for the writer and recovery.
export { fsyncDir } from './manifest.js';

export function shardDirName(shard: number): string {
  return String(shard).padStart(3, '0');
}

export function segmentFileName(firstSeq: number, format: Format): string {
  return String(firstSeq).padStart(20, '0') + (format === 'framed' ? '.wal' : '.log');
}

const SEGMENT_RE = /^(\d{20})\.(wal|log)$/;

export interface SegmentRef {
  shard: number;
  file: string;
  firstSeq: number;
}

/** Segments of one shard, oldest first. Unknown files are ignored; a .wal/.log with a bad name is not ours either. */
export function listSegments(dir: string, shard: number, format: Format): SegmentRef[] {
  const sdir = path.join(dir, shardDirName(shard));
  let names: string[];
  try {
    names = fs.readdirSync(sdir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const ext = format === 'framed' ? 'wal' : 'log';
  const out: SegmentRef[] = [];
  for (const n of names) {
    const m = SEGMENT_RE.exec(n);
    if (m && m[2] === ext) out.push({ shard, file: path.join(sdir, n), firstSeq: Number(m[1]) });
  }
  out.sort((a, b) => a.firstSeq - b.firstSeq);
  return out;
}

/** Shard numbers that have a directory in `dir`. */
export function listShardDirs(dir: string): number[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^\d{3}$/.test(d.name))
    .map((d) => Number(d.name))
    .sort((a, b) => a - b);
}

export interface SegmentHeader {
  version: number;
  shard: number;
  firstSeq: number;
  /** Highest seq in the shard's previous segment (0 if none). */
  prevMaxSeq: number;
}

export function encodeSegmentHeader(h: SegmentHeader): Uint8Array {
  const b = new Uint8Array(SEGMENT_HEADER_BYTES);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < 8; i++) b[i] = SEGMENT_MAGIC.charCodeAt(i);
  dv.setUint16(8, SEGMENT_VERSION, true);
  dv.setUint16(10, FORMAT_FRAMED, true);
  dv.setUint16(12, h.shard, true);
  dv.setUint32(16, h.firstSeq >>> 0, true);
  dv.setUint32(20, Math.floor(h.firstSeq / 2 ** 32), true);
  dv.setUint32(24, h.prevMaxSeq >>> 0, true);
  dv.setUint32(28, Math.floor(h.prevMaxSeq / 2 ** 32), true);
  dv.setUint32(36, maskCrc(crc32cUpdate(0, b, 0, 36)), true);
  return b;
}

export function readSeq(dv: DataView, off: number): number {
  return dv.getUint32(off + H_SEQ_LO, true) + (dv.getUint32(off + H_SEQ_HI, true) & SEQ_HI_MASK) * 2 ** 32;
}

export function readType(u8: Uint8Array, off: number): number {
  return u8[off + H_SEQ_HI + 3];
}

/**
 * Is there a whole, valid record at `off` of u8 (which ends at `end`)? Returns its length or a
 * negative reason: -1 short, -2 bad length, -3 bad type, -4 bad CRC.
 */
export function checkRecord(u8: Uint8Array, dv: DataView, off: number, end: number): number {
  if (off + HEADER_BYTES > end) return -1;
  const len = dv.getInt32(off + H_LEN, true);
  if (len < HEADER_BYTES || len > 0x7ffffff0) return -2;
  if (off + len > end) return -1;
  const type = dv.getUint32(off + H_SEQ_HI, true) >>> TYPE_SHIFT;
  if (type !== TYPE_BYTES && type !== TYPE_UTF8) return -3;
  if (recordCrc(u8, off, len) !== dv.getUint32(off + 4, true)) return -4;
  return len;
}
