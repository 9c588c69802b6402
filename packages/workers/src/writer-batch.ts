/**
 * One batch of the shard writer: from HEAD, every published record up to the first unpublished one
 * (or maxBatchBytes), padding skipped, records as they are (framed: the writer puts them in one frame) or payloads compacted (lines), as at
 * most two contiguous regions of the ring (two when the batch wraps its end, or a padding record
 * left by a failed append splits it). The regions are then written with one writev.
 */
import { recordCrcAligned } from './crc32c.js';
import { align8, H_CRC, HEADER_BYTES, seqOf } from './record-layout.js';
import { CONTROL_BYTES, lengthAt, lengthPlain, PLAIN_LENGTH_READS, type RingViews } from './ring-protocol.js';

export class Batch {
  /** Ring bytes the batch consumes (records and padding). */
  bytes = 0;
  /** Ring position just past it. */
  end = 0;
  entries = 0;
  payload = 0;
  firstSeq = -1;
  maxSeq = 0;
  regions = 0;
  private readonly starts = [0, 0];
  private readonly ends = [0, 0];
  private readonly framed: boolean;

  constructor(
    private readonly ring: RingViews,
    format: 'framed' | 'lines',
    private readonly maxBytes: number,
    /** Framed format version 1: fill each record's CRC (version 2 checksums the frame instead). */
    private readonly recordCrcs = false,
  ) {
    this.framed = format === 'framed';
  }

  /** Take what is published between `head` and `tail` (ring positions). Returns the bytes taken. */
  collect(head: number, tail: number): number {
    const { i32, u8, mask } = this.ring;
    const framed = this.framed;
    const recordCrcs = this.recordCrcs;
    const plain = PLAIN_LENGTH_READS;
    let pos = head;
    let nRegions = 0;
    let regionEnd = -1;
    let bytes = 0;
    let entries = 0;
    let payload = 0;
    let firstSeq = -1;
    let lastIdx = -1;
    let maxSeq = 0;
    let cursor = -1; // lines format: where the next payload is compacted to
    while (((tail - pos) | 0) > 0 && bytes < this.maxBytes) {
      const idx = pos & mask;
      const len = plain ? lengthPlain(i32, idx) : lengthAt(i32, idx);
      if (len === 0) break; // claimed, not yet published
      if (len < 0) {
        // padding (to the ring's end, or a failed append's claim): consumed, never written
        pos = (pos - len) | 0;
        bytes -= len;
        continue;
      }
      if (idx !== regionEnd) {
        // a new contiguous region (the first one, or after a wrap or padding)
        if (nRegions === 2) break;
        if (nRegions === 1) this.ends[0] = framed ? regionEnd : cursor;
        this.starts[nRegions++] = idx;
        cursor = idx;
      }
      const off = CONTROL_BYTES + idx;
      // a shard's records are in sequence order: only the first and the last of a batch are read
      if (firstSeq < 0) firstSeq = seqOf(i32, off);
      if (framed) {
        lastIdx = idx; // format 2: the record goes to the file as it is (its CRC word zero: the frame carries the CRC)
        if (recordCrcs) i32[(off + H_CRC) >> 2] = recordCrcAligned(u8, i32, off, len) | 0;
      } else {
        maxSeq = seqOf(i32, off); // before compaction can overwrite this header
        const n = len - HEADER_BYTES;
        u8.copyWithin(CONTROL_BYTES + cursor, off + HEADER_BYTES, off + HEADER_BYTES + n);
        cursor += n;
      }
      const frame = align8(len);
      regionEnd = idx + frame;
      pos = (pos + frame) | 0;
      bytes += frame;
      entries++;
      payload += len - HEADER_BYTES;
    }
    if (nRegions > 0) this.ends[nRegions - 1] = framed ? regionEnd : cursor;
    this.regions = nRegions;
    this.bytes = bytes;
    this.end = pos;
    this.entries = entries;
    this.payload = payload;
    this.firstSeq = firstSeq;
    this.maxSeq = framed ? (lastIdx >= 0 ? seqOf(i32, CONTROL_BYTES + lastIdx) : 0) : maxSeq;
    return bytes;
  }

  /** The batch's file bytes as views over the ring (pushed into `out`); returns their total. */
  views(out: Uint8Array[]): number {
    let total = 0;
    for (let r = 0; r < this.regions; r++) {
      const n = this.ends[r] - this.starts[r];
      if (n > 0) {
        out.push(new Uint8Array(this.ring.sab, CONTROL_BYTES + this.starts[r], n));
        total += n;
      }
    }
    return total;
  }
}
