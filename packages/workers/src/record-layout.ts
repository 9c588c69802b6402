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
 *  crc        masked CRC-32C of bytes [0,4) then [8, length), filled by the writer
 *  seqLo      low 32 bits of the sequence number
 *  seqHi/type bits 0..20: high bits of the sequence number; bits 24..31: type (TYPE_*)
 *
 * Any change here is a format change of both the ring and the files.
 */

export const HEADER_BYTES = 16;
export const H_LEN = 0;
export const H_CRC = 4;
export const H_SEQ_LO = 8;
export const H_SEQ_HI = 12;
export const TYPE_BYTES = 1;
export const TYPE_UTF8 = 2;
export const TYPE_SHIFT = 24;
export const SEQ_HI_MASK = 0x1fffff;
export const ALIGN = 8;

const TWO32 = 4294967296;

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Write a record's seq and type words (Int32 view, `off` a byte offset of the record's header). */
export function writeSeqType(i32: Int32Array, off: number, seq: number, typeBits: number): void {
  i32[(off + H_SEQ_LO) >> 2] = seq % TWO32 | 0;
  i32[(off + H_SEQ_HI) >> 2] = Math.floor(seq / TWO32) | typeBits;
}

/** A record's sequence number (Int32 view, `off` a byte offset of the record's header). */
export function seqOf(i32: Int32Array, off: number): number {
  return (i32[(off + H_SEQ_LO) >> 2] >>> 0) + (i32[(off + H_SEQ_HI) >> 2] & SEQ_HI_MASK) * TWO32;
}

/** The segment files' record framing. */
export type Format = 'framed' | 'lines';
export const FORMAT_FRAMED = 1;
export const FORMAT_LINES = 2;
