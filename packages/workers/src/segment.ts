/**
 * Segment files: names, the header of framed segments (80 bytes in format version 2, 40 in version 1;
 * encoding here, segment-header.ts reads and checks it), and the check of one version-1 record in memory.
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
/** The version new segments are written in (frames, docs/FORMAT.md 2). */
export const SEGMENT_VERSION = 2;
/** Header bytes of a version-2 segment (frames start here). */
export const SEGMENT_HEADER_BYTES = 80;
/** Header bytes of a version-1 segment (records with their own CRC start here). */
export const SEGMENT_HEADER_BYTES_V1 = 40;
/** Offset of the header CRC in a version-2 header; the first frame's prevCrc repeats it. */
export const SEGMENT_HEADER_CRC_V2 = 76;
/** Header flag: the segment's frames are sealed (AES-256-GCM). */
export const SEGMENT_FLAG_ENCRYPTED = 1;
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
  /** 1 (records with their own CRC) or 2 (frames). */
  version: number;
  shard: number;
  firstSeq: number;
  /** Highest seq in the shard's previous segment (0 if none). */
  prevMaxSeq: number;
  /** Version 2: header flags (SEGMENT_FLAG_*); 0 otherwise. */
  flags?: number;
  /** Version 2, encrypted: the segment's random salt (16 bytes). */
  salt?: Uint8Array;
  /** Version 2, encrypted: the key id (1..16 ASCII chars). */
  keyId?: string;
  /** Version 2, encrypted: the key check (8 bytes). */
  keyCheck?: Uint8Array;
  /** Version 2: the header's stored CRC (bytes 76..80), which the first frame's prevCrc repeats. */
  crc?: number;
}

/** Header bytes of a segment of this version. */
export function segmentHeaderBytes(version: number): number {
  return version === 1 ? SEGMENT_HEADER_BYTES_V1 : SEGMENT_HEADER_BYTES;
}

/** Encode a segment header: version 2 (80 bytes) unless h.version is 1 (40 bytes, as older builds wrote). */
export function encodeSegmentHeader(h: SegmentHeader): Uint8Array {
  const v1 = h.version === 1;
  const b = new Uint8Array(v1 ? SEGMENT_HEADER_BYTES_V1 : SEGMENT_HEADER_BYTES);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < 8; i++) b[i] = SEGMENT_MAGIC.charCodeAt(i);
  dv.setUint16(8, v1 ? 1 : 2, true);
  dv.setUint16(10, FORMAT_FRAMED, true);
  dv.setUint16(12, h.shard, true);
  dv.setUint32(16, h.firstSeq >>> 0, true);
  dv.setUint32(20, Math.floor(h.firstSeq / 2 ** 32), true);
  dv.setUint32(24, h.prevMaxSeq >>> 0, true);
  dv.setUint32(28, Math.floor(h.prevMaxSeq / 2 ** 32), true);
  if (v1) {
    dv.setUint32(36, maskCrc(crc32cUpdate(0, b, 0, 36)), true);
    return b;
  }
  dv.setUint16(14, h.flags ?? 0, true);
  if (h.salt) b.set(h.salt.subarray(0, 16), 32);
  if (h.keyId) {
    if (!/^[A-Za-z0-9._-]{1,16}$/.test(h.keyId)) throw new RangeError(`key id ${JSON.stringify(h.keyId)} must be 1..16 characters of [A-Za-z0-9._-]`);
    for (let i = 0; i < h.keyId.length; i++) b[48 + i] = h.keyId.charCodeAt(i);
  }
  if (h.keyCheck) b.set(h.keyCheck.subarray(0, 8), 64);
  dv.setUint32(SEGMENT_HEADER_CRC_V2, maskCrc(crc32cUpdate(0, b, 0, SEGMENT_HEADER_CRC_V2)), true);
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
