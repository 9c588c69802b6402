/**
 * Segment files: names, the 40-byte header of framed segments, and the record scanner used by
 * recovery, readers and verify.
 *
 * Layout of a log directory:
 *   <dir>/shardlog.json                      manifest: format version, record format, shard count
 *   <dir>/shardlog.lock                      lock file (pid of the process that has the log open)
 *   <dir>/<shard:3 digits>/<firstSeq:20 digits>.wal   framed segments (.log in lines format)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32cUpdate, maskCrc, recordCrc } from './crc32c.js';
import { LogFormatError } from './errors.js';
import { align8, FORMAT_FRAMED, H_LEN, H_SEQ_HI, H_SEQ_LO, HEADER_BYTES, SEQ_HI_MASK, TYPE_BYTES, TYPE_SHIFT, TYPE_UTF8, type Format } from './record-layout.js';

export const SEGMENT_MAGIC = 'SHARDLOG';
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 40;
export const MANIFEST_FILE = 'shardlog.json';
export const LOCK_FILE = 'shardlog.lock';
export const MANIFEST_VERSION = 1;

export interface Manifest {
  shardlog: number;
  format: Format;
  shards: number;
  created: string;
}

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

/** Parse and check a segment header; a foreign, damaged or future file is a LogFormatError. */
export function decodeSegmentHeader(b: Uint8Array, file: string): SegmentHeader {
  if (b.length < SEGMENT_HEADER_BYTES) throw new LogFormatError(file, `too short for a segment header (${b.length} bytes)`);
  for (let i = 0; i < 8; i++) {
    if (b[i] !== SEGMENT_MAGIC.charCodeAt(i)) throw new LogFormatError(file, 'not a shardlog segment (bad magic)');
  }
  const dv = new DataView(b.buffer, b.byteOffset, SEGMENT_HEADER_BYTES);
  const version = dv.getUint16(8, true);
  if (version !== SEGMENT_VERSION) throw new LogFormatError(file, `segment format version ${version} is not supported (this build reads ${SEGMENT_VERSION})`);
  if (dv.getUint32(36, true) !== maskCrc(crc32cUpdate(0, b, 0, 36))) throw new LogFormatError(file, 'segment header checksum mismatch');
  if (dv.getUint16(10, true) !== FORMAT_FRAMED) throw new LogFormatError(file, 'segment record format is unknown');
  return {
    version,
    shard: dv.getUint16(12, true),
    firstSeq: dv.getUint32(16, true) + dv.getUint32(20, true) * 2 ** 32,
    prevMaxSeq: dv.getUint32(24, true) + dv.getUint32(28, true) * 2 ** 32,
  };
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

export const REASONS: Record<number, string> = {
  [-1]: 'record runs past the end of the file',
  [-2]: 'record length is impossible',
  [-3]: 'record type is unknown',
  [-4]: 'record checksum mismatch',
};

/** Search forward (8-byte steps) from `from` for the next offset holding a valid record; -1 if none. */
export function findNextValid(u8: Uint8Array, dv: DataView, from: number, end: number): number {
  for (let off = align8(from); off + HEADER_BYTES <= end; off += 8) {
    if (checkRecord(u8, dv, off, end) > 0) return off;
  }
  return -1;
}

/**
 * A shard's last segment that a crash left before its first sync: shorter than its header, or a
 * header of zeros (never written to disk). Nothing in it was acknowledged: recovery removes it,
 * readers and verify pass over it. `head` is the file's first (up to) 40 bytes.
 */
export function isUnfinishedSegment(head: Uint8Array, size: number): boolean {
  if (size < SEGMENT_HEADER_BYTES || head.length < SEGMENT_HEADER_BYTES) return true;
  for (let i = 0; i < SEGMENT_HEADER_BYTES; i++) if (head[i] !== 0) return false;
  return true;
}

/**
 * The one rule recovery, readers, follow and verify share, for a record at `off` that is not valid:
 * if no valid record follows it, or only zero bytes lie between it and the next one (a hole the file
 * system allocated but an unflushed write never filled), it is a torn tail: those bytes were never
 * durable. Otherwise valid records follow damaged bytes: corruption of synced data.
 * `next` is the offset of the next valid record, or -1.
 */
export function tornOrCorrupt(u8: Uint8Array, dv: DataView, off: number, end: number): { torn: boolean; next: number } {
  const next = findNextValid(u8, dv, off + 8, end);
  if (next < 0) return { torn: true, next };
  for (let i = off; i < next; i++) if (u8[i] !== 0) return { torn: false, next };
  return { torn: true, next };
}

export function readManifest(dir: string): Manifest | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    throw new LogFormatError(path.join(dir, MANIFEST_FILE), 'manifest is not valid JSON');
  }
  if (m.shardlog !== MANIFEST_VERSION) throw new LogFormatError(path.join(dir, MANIFEST_FILE), `manifest version ${String(m.shardlog)} is not supported`);
  if ((m.format !== 'framed' && m.format !== 'lines') || !Number.isInteger(m.shards) || m.shards < 1) {
    throw new LogFormatError(path.join(dir, MANIFEST_FILE), 'manifest fields are invalid');
  }
  return m;
}

/** Write a file atomically and durably: temp file, fsync, rename, fsync the directory. */
export function writeFileDurable(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
