/**
 * Frames of segment format version 2 (docs/FORMAT.md 2): the 32-byte frame header, its CRC (over the
 * header without its crc word, then the body, through crc-native.ts), the chain (each frame carries
 * the previous frame's crc; the first, the segment header's), and the structural check of the
 * records a frame holds. The writer writes a frame header from a small preallocated buffer in front
 * of its ring views; the segment scanner checks frames with checkFrame.
 *
 *  0        4        8        12   14   16                24       28       32
 *  +--------+--------+--------+----+----+-----------------+--------+--------+------------------+
 *  | frame  |  crc   |prevCrc |flag|rsvd|    firstSeq     | count  | body   | body: records as |
 *  | length |        |        | s  |    |  (lo, hi u32)   |        | length | in the ring      |
 *  +--------+--------+--------+----+----+-----------------+--------+--------+------------------+
 */
import { crc32cRange } from './crc-native.js';
import { maskCrc } from './crc32c.js';
import { align8, H_LEN, H_SEQ_HI, H_SEQ_LO, HEADER_BYTES, SEQ_HI_MASK, TYPE_BYTES, TYPE_SHIFT, TYPE_UTF8 } from './record-layout.js';

export const FRAME_HEADER_BYTES = 32;
export const F_LEN = 0;
export const F_CRC = 4;
export const F_PREV = 8;
export const F_FLAGS = 12;
export const F_SEQ_LO = 16;
export const F_SEQ_HI = 20;
export const F_COUNT = 24;
export const F_BODY = 28;
/** Frame flag: the body is AES-256-GCM ciphertext followed by its 16-byte tag. */
export const FRAME_FLAG_ENCRYPTED = 1;
export const FRAME_TAG_BYTES = 16;
/** The largest frame a reader accepts (a batch is at most half a ring plus one record of at most half a ring; rings at most 1 GiB). */
export const MAX_FRAME = 0x7fffffff;

/** Why bytes at a frame boundary are not a valid frame (negative codes of checkFrameHeader / checkFrame). */
export const FRAME_SHORT = -1;
export const FRAME_BAD_LENGTH = -2;
export const FRAME_BAD_CRC = -4;
export const FRAME_BAD_CHAIN = -6;
export const FRAME_BAD_RECORDS = -7;

/** Fill a frame header's fields (all but crc) in `h` (a DataView over at least 32 bytes at `at`). */
export function writeFrameHeader(h: DataView, at: number, prevCrc: number, firstSeq: number, count: number, bodyLength: number, flags = 0): void {
  const tag = flags & FRAME_FLAG_ENCRYPTED ? FRAME_TAG_BYTES : 0;
  h.setUint32(at + F_LEN, FRAME_HEADER_BYTES + bodyLength + tag, true);
  h.setUint32(at + F_CRC, 0, true);
  h.setUint32(at + F_PREV, prevCrc, true);
  h.setUint16(at + F_FLAGS, flags, true);
  h.setUint16(at + F_FLAGS + 2, 0, true);
  h.setUint32(at + F_SEQ_LO, firstSeq >>> 0, true);
  h.setUint32(at + F_SEQ_HI, Math.floor(firstSeq / 2 ** 32), true);
  h.setUint32(at + F_COUNT, count, true);
  h.setUint32(at + F_BODY, bodyLength, true);
}

/** The unmasked CRC of a frame header's bytes [0,4) and [8,32) (continue it over the body with crc32cRange). */
export function frameHeaderCrc(u8: Uint8Array, at: number): number {
  return crc32cRange(crc32cRange(0, u8, at, at + 4), u8, at + 8, at + FRAME_HEADER_BYTES);
}

/** The frame's stored crc field, from the CRC over header and body (as frameHeaderCrc then crc32cRange left it). */
export function finishFrameCrc(crc: number): number {
  return maskCrc(crc);
}

/**
 * Encode one whole frame (header, body, padding to 8) from records laid out as in the ring (the
 * body, a multiple of 8 bytes). For tests, fixtures and tools; the writer builds frames in place.
 */
export function encodeFrame(body: Uint8Array, prevCrc: number, firstSeq: number, count: number, flags = 0): Uint8Array {
  const tag = flags & FRAME_FLAG_ENCRYPTED ? FRAME_TAG_BYTES : 0;
  const len = FRAME_HEADER_BYTES + body.length;
  const out = new Uint8Array(align8(len));
  const dv = new DataView(out.buffer);
  writeFrameHeader(dv, 0, prevCrc, firstSeq, count, body.length - tag, flags);
  out.set(body, FRAME_HEADER_BYTES);
  dv.setUint32(F_CRC, finishFrameCrc(crc32cRange(frameHeaderCrc(out, 0), out, FRAME_HEADER_BYTES, len)), true);
  return out;
}

/** A frame header read from bytes. */
export interface FrameHeader {
  frameLength: number;
  crc: number;
  prevCrc: number;
  flags: number;
  firstSeq: number;
  count: number;
  bodyLength: number;
}

export function readFrameHeader(dv: DataView, at: number): FrameHeader {
  return {
    frameLength: dv.getUint32(at + F_LEN, true),
    crc: dv.getUint32(at + F_CRC, true),
    prevCrc: dv.getUint32(at + F_PREV, true),
    flags: dv.getUint16(at + F_FLAGS, true),
    firstSeq: dv.getUint32(at + F_SEQ_LO, true) + dv.getUint32(at + F_SEQ_HI, true) * 2 ** 32,
    count: dv.getUint32(at + F_COUNT, true),
    bodyLength: dv.getUint32(at + F_BODY, true),
  };
}

/**
 * The cheap part of a frame check, on its header alone: its length if the length fields are
 * consistent (32 + bodyLength (+16) == frameLength, body a multiple of 8, reserved zero) and the
 * frame fits in `avail` bytes, else FRAME_SHORT (runs past `avail`) or FRAME_BAD_LENGTH.
 */
export function checkFrameHeader(dv: DataView, at: number, avail: number): number {
  if (avail < FRAME_HEADER_BYTES) return FRAME_SHORT;
  const len = dv.getUint32(at + F_LEN, true);
  const body = dv.getUint32(at + F_BODY, true);
  const flags = dv.getUint16(at + F_FLAGS, true);
  const tag = flags & FRAME_FLAG_ENCRYPTED ? FRAME_TAG_BYTES : 0;
  if (len > MAX_FRAME || body & 7 || body < HEADER_BYTES || len !== FRAME_HEADER_BYTES + body + tag) return FRAME_BAD_LENGTH;
  if (flags & ~FRAME_FLAG_ENCRYPTED || dv.getUint16(at + F_FLAGS + 2, true) !== 0) return FRAME_BAD_LENGTH;
  if (dv.getUint32(at + F_COUNT, true) === 0) return FRAME_BAD_LENGTH;
  if (len > avail) return FRAME_SHORT;
  return len;
}

/**
 * A whole frame at u8[at] (`avail` bytes there): its length, or a negative fault. Checks the header
 * (checkFrameHeader), the CRC, the chain when `prevCrc` is not -1, and, unencrypted, the records in
 * the body (checkFrameRecords).
 */
export function checkFrame(u8: Uint8Array, dv: DataView, at: number, avail: number, prevCrc: number): number {
  const len = checkFrameHeader(dv, at, avail);
  if (len < 0) return len;
  if (finishFrameCrc(crc32cRange(frameHeaderCrc(u8, at), u8, at + FRAME_HEADER_BYTES, at + len)) !== dv.getUint32(at + F_CRC, true)) return FRAME_BAD_CRC;
  if (prevCrc !== -1 && dv.getUint32(at + F_PREV, true) !== prevCrc) return FRAME_BAD_CHAIN;
  if (!(dv.getUint16(at + F_FLAGS, true) & FRAME_FLAG_ENCRYPTED) && !checkFrameRecords(dv, at)) return FRAME_BAD_RECORDS;
  return len;
}

/**
 * The records of an unencrypted frame at `at`, structurally: each length ≥ 16 and within the body,
 * type known, zero where v1 had the record CRC, the first seq the frame's firstSeq, seqs rising, and
 * the count matching.
 */
export function checkFrameRecords(dv: DataView, at: number): boolean {
  const end = at + FRAME_HEADER_BYTES + dv.getUint32(at + F_BODY, true);
  let prev = dv.getUint32(at + F_SEQ_LO, true) + dv.getUint32(at + F_SEQ_HI, true) * 2 ** 32 - 1;
  let n = 0;
  for (let off = at + FRAME_HEADER_BYTES; off < end; n++) {
    const len = dv.getInt32(off + H_LEN, true);
    if (len < HEADER_BYTES || off + len > end || dv.getUint32(off + 4, true) !== 0) return false;
    const hi = dv.getUint32(off + H_SEQ_HI, true);
    const type = hi >>> TYPE_SHIFT;
    if (type !== TYPE_BYTES && type !== TYPE_UTF8) return false;
    const seq = dv.getUint32(off + H_SEQ_LO, true) + (hi & SEQ_HI_MASK) * 2 ** 32;
    if (n === 0 ? seq !== prev + 1 : seq <= prev) return false;
    prev = seq;
    off += align8(len);
  }
  return n === dv.getUint32(at + F_COUNT, true);
}
