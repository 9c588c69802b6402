/**
 * Segment headers as readers see them: the one place a framed segment's header (80 bytes in
 * version 2, 40 in version 1) is read and checked (magic, version, CRC, format, then shard and first seq against where the file lies), the
 * rule for what an unfinished last segment of our own looks like (anything else is foreign), and
 * the link between consecutive segments of a shard (prevMaxSeq).
 */
import * as fs from 'node:fs';
import { crc32cUpdate, maskCrc } from './crc32c.js';
import { LogFormatError } from './errors.js';
import { FORMAT_FRAMED } from './record-layout.js';
import {
  encodeSegmentHeader,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  SEGMENT_VERSION,
  segmentHeaderBytes,
  type SegmentHeader,
  type SegmentRef,
} from './segment.js';

/** The header bytes a segment starting with `head` needs: by its version field (version 2's when unknown). */
function headerBytesOf(head: Uint8Array): number {
  return head.length >= 10 ? segmentHeaderBytes(head[8] | (head[9] << 8)) : SEGMENT_HEADER_BYTES;
}

/** Parse and check a segment header (version 1 or 2); a foreign, damaged or future file is a LogFormatError. */
export function decodeSegmentHeader(b: Uint8Array, file: string): SegmentHeader {
  if (b.length < 10) throw new LogFormatError(file, `too short for a segment header (${b.length} bytes)`);
  for (let i = 0; i < 8; i++) {
    if (b[i] !== SEGMENT_MAGIC.charCodeAt(i)) throw new LogFormatError(file, 'not a shardlog segment (bad magic)');
  }
  const version = b[8] | (b[9] << 8);
  if (version !== 1 && version !== 2) throw new LogFormatError(file, `segment format version ${version} is not supported (this build reads 1 and ${SEGMENT_VERSION})`);
  const n = segmentHeaderBytes(version);
  if (b.length < n) throw new LogFormatError(file, `too short for a segment header (${b.length} bytes)`);
  const dv = new DataView(b.buffer, b.byteOffset, n);
  const crcAt = n - 4;
  const crc = dv.getUint32(crcAt, true);
  if (crc !== maskCrc(crc32cUpdate(0, b, 0, crcAt))) throw new LogFormatError(file, 'segment header checksum mismatch');
  if (dv.getUint16(10, true) !== FORMAT_FRAMED) throw new LogFormatError(file, 'segment record format is unknown');
  const h: SegmentHeader = {
    version,
    shard: dv.getUint16(12, true),
    firstSeq: dv.getUint32(16, true) + dv.getUint32(20, true) * 2 ** 32,
    prevMaxSeq: dv.getUint32(24, true) + dv.getUint32(28, true) * 2 ** 32,
  };
  if (version === 1) return h;
  h.flags = dv.getUint16(14, true);
  h.crc = crc;
  if (h.flags & 1) {
    h.salt = b.slice(32, 48);
    let id = '';
    for (let i = 48; i < 64 && b[i] !== 0; i++) id += String.fromCharCode(b[i]);
    h.keyId = id;
    h.keyCheck = b.slice(64, 72);
  }
  return h;
}

/**
 * Is this file's start what our own crash while creating segment `ref` leaves? True for 0 bytes, for
 * a header of zeros (whatever follows), and for fewer bytes than a header that are all zeros or a
 * prefix of the header we would have written, in version 2 or 1 (its fixed fields: magic, version,
 * format, shard, first seq). Anything else that is not a whole valid header is a foreign file.
 */
export function isOwnUnfinishedHead(head: Uint8Array, ref: SegmentRef): boolean {
  const need = headerBytesOf(head);
  let zero = true;
  for (let i = 0; i < head.length && i < need; i++) if (head[i] !== 0) zero = false;
  if (zero) return true;
  if (head.length >= need) return false;
  const fixed = (version: number) => {
    const ours = encodeSegmentHeader({ version, shard: ref.shard, firstSeq: ref.firstSeq, prevMaxSeq: 0 });
    for (let i = 0; i < head.length && i < 24; i++) if (head[i] !== ours[i] && !(version === 2 && (i === 14 || i === 15))) return false;
    return true;
  };
  return fixed(2) || fixed(1);
}

/**
 * Check the first (up to) 80 bytes of segment `ref`: its header, or undefined for our own unfinished
 * last segment (isOwnUnfinishedHead). A foreign, damaged or misplaced header, or an unfinished one in
 * a segment that is not the shard's last, is a LogFormatError naming the file.
 */
export function checkSegmentHead(head: Uint8Array, ref: SegmentRef, last: boolean): SegmentHeader | undefined {
  let zero = head.length > 0;
  for (let i = 0; i < head.length; i++) if (head[i] !== 0) zero = false;
  const need = headerBytesOf(head);
  if (head.length < need || zero) {
    const short = head.length < need;
    if (!isOwnUnfinishedHead(head, ref)) {
      throw new LogFormatError(ref.file, `not a shardlog segment (${short ? `${head.length} bytes, not the start of a segment header` : 'bad magic'})`);
    }
    if (!last) throw new LogFormatError(ref.file, `segment header was never written (${short ? `${head.length} bytes` : 'zeros'}), in a segment that is not the shard's last`);
    return undefined;
  }
  const h = decodeSegmentHeader(head, ref.file);
  if (h.shard !== ref.shard) throw new LogFormatError(ref.file, `segment belongs to shard ${h.shard}, found in shard ${ref.shard}`);
  if (h.firstSeq !== ref.firstSeq) throw new LogFormatError(ref.file, `segment header says first seq ${h.firstSeq}, its name says ${ref.firstSeq}`);
  return h;
}

/** Read a segment's first (up to) 80 bytes (a version-2 header; a version-1 header is the first 40) from an open file. */
export function readHead(fd: number): Uint8Array {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES);
  let got = 0;
  while (got < b.length) {
    const n = fs.readSync(fd, b, got, b.length - got, got);
    if (n === 0) break;
    got += n;
  }
  return b.subarray(0, got);
}

/**
 * Read and check a framed segment's header only (e.g. a shard's last segment, whose records are
 * recovery's): the header, 'unfinished' (see checkSegmentHead) or 'removed' (the file is gone).
 */
export function readSegmentHeader(ref: SegmentRef, last: boolean): SegmentHeader | 'unfinished' | 'removed' {
  let fd: number;
  try {
    fd = fs.openSync(ref.file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'removed';
    throw e;
  }
  try {
    return checkSegmentHead(readHead(fd), ref, last) ?? 'unfinished';
  } finally {
    fs.closeSync(fd);
  }
}

/** The sentence for a broken link between two segments of a shard, or undefined if the link holds. */
export function chainBreak(headerPrevMaxSeq: number, prevEnd: number): string | undefined {
  if (headerPrevMaxSeq === prevEnd) return undefined;
  return `header says the previous segment ended at seq ${headerPrevMaxSeq}, but the segment before it ends at seq ${prevEnd}: a segment is missing or was cut`;
}
