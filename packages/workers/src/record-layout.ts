/**
 * Record layout: the 16-byte record header shared, byte for byte, by the ring and by framed segment
 * files (docs/FORMAT.md 1). Descriptor constants and the small helpers that read and write it.
 *
 *  0        4        8        12       16                      len     align8(len)
 *  +--------+--------+--------+--------+-----------------------+--------+
 *  | length |  crc   | seqLo  | seqHi/ |  payload              |  zero  |
 *  | int32  | uint32 | uint32 |  type  |  (length - 16 bytes)  | padding|
 *  +--------+--------+--------+--------+-----------------------+--------+
 *
 *  length     header + payload bytes (unpadded); in the ring 0 = claimed, not yet published, and
 *             < 0 = padding record of -length bytes (skipped by the writer, never written)
 *  crc        format version 1: masked CRC-32C of bytes [0,4) then [8, length), filled by the writer;
 *             version 2: zero (the frame carries the CRC, frame.ts)
 *  seqLo      low 32 bits of the sequence number
 *  seqHi/type bits 0..20: high bits of the sequence number; bits 24..31: type (TYPE_*)
 *
 * Any change here is a format change of both the ring and the files.
 */

/** The header's fields as a const enum, so the helpers below compile to literals (the same values as the exports). */
const enum R {
  HEADER_BYTES = 16,
  LEN = 0,
  CRC = 4,
  SEQ_LO = 8,
  SEQ_HI = 12,
  SEQ_HI_MASK = 0x1fffff,
  TWO32 = 4294967296,
}

export const HEADER_BYTES = R.HEADER_BYTES;
export const H_LEN = R.LEN;
export const H_CRC = R.CRC;
export const H_SEQ_LO = R.SEQ_LO;
export const H_SEQ_HI = R.SEQ_HI;
export const TYPE_BYTES = 1;
export const TYPE_UTF8 = 2;
export const TYPE_SHIFT = 24;
export const SEQ_HI_MASK = R.SEQ_HI_MASK;
export const ALIGN = 8;

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Write a record's seq and type words (Int32 view, `off` a byte offset of the record's header). */
export function writeSeqType(i32: Int32Array, off: number, seq: number, typeBits: number): void {
  i32[(off + R.SEQ_LO) >> 2] = seq % R.TWO32 | 0;
  i32[(off + R.SEQ_HI) >> 2] = Math.floor(seq / R.TWO32) | typeBits;
}

/** A record's sequence number (Int32 view, `off` a byte offset of the record's header). */
export function seqOf(i32: Int32Array, off: number): number {
  return (i32[(off + R.SEQ_LO) >> 2] >>> 0) + (i32[(off + R.SEQ_HI) >> 2] & R.SEQ_HI_MASK) * R.TWO32;
}

/** The segment files' record framing. */
export type Format = 'framed' | 'lines';
export const FORMAT_FRAMED = 1;
export const FORMAT_LINES = 2;
