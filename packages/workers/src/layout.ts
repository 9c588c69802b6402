/**
 * Ring and record layout shared by producers (in @shardlog/core) and the shard writer thread.
 *
 * One SharedArrayBuffer per shard:
 *   [0, CONTROL_BYTES)            control block (Int32 words, hot words on their own 64-byte line,
 *                                 then BigInt64 counters written by the worker)
 *   [CONTROL_BYTES, +capacity)    data region, capacity a power of two
 *
 * One small SharedArrayBuffer for the whole log (GLOBAL_BYTES): the sequence counter and log state.
 * See docs/FORMAT.md for the diagram; any change here is a format change.
 */

/** Bytes of the control block before the data region. */
export const CONTROL_BYTES = 512;

// ---- Int32 word indexes in a ring's control block ----
/** Producers' claim position (bytes, wraps at 2^32). Written only under the reservation lock. */
export const I_TAIL = 0;
/** Reservation lock: 0 free, 1 held, 2 held with waiters. */
export const I_LOCK = 1;
/** Consumer position (bytes, wraps at 2^32): everything before it is written and zeroed. */
export const I_HEAD = 16;
/** 1 while the writer sleeps; a producer that publishes and sees 1 notifies it. */
export const I_SLEEPING = 32;
/** Incremented by anyone who needs a sync sooner than the policy would give it (durable() waiters). */
export const I_SYNC_REQ = 33;
/** Shard state, see STATE_*. */
export const I_STATE = 34;
/** Incremented by the writer after every fdatasync that moved DURABLE; waiters wait on it. */
export const I_DURABLE_EPOCH = 35;
/** Producers blocked on a full ring set this; the writer notifies I_HEAD when set. */
export const I_SPACE_WAITERS = 36;
/** Producers count how often they found the ring full (Int32, wraps: read as uint32 delta). */
export const I_FULL_WAITS = 37;
/** Error code index (see ERRNO_CODES) when the shard failed. */
export const I_FAIL_CODE = 38;
/** ms a claimed record may stay unpublished, or the reservation lock stay held, before the log fails. */
export const I_STALL_MS = 39;

// ---- BigInt64 word indexes (byte offset = index * 8), written by the writer ----
export const B_WRITTEN = 32; // byte 256: logical bytes consumed and written
export const B_DURABLE = 33; // logical bytes made durable by fdatasync
export const B_ENTRIES = 34; // records written (padding excluded)
export const B_PAYLOAD = 35; // payload bytes written
export const B_BATCHES = 36; // batches written
export const B_WRITEV = 37; // writev calls
export const B_FSYNCS = 38; // fdatasync calls
export const B_FILE_BYTES = 39; // bytes written to files (headers included)
export const B_SEGMENTS = 40; // segments created
export const B_LAST_SEQ = 41; // highest seq written

export const STATE_STARTING = 0;
export const STATE_RUNNING = 1;
export const STATE_CLOSING = 2;
export const STATE_CLOSED = 3;
export const STATE_FAILED = 4;

// ---- Global block (one per log) Int32 indexes ----
export const GLOBAL_BYTES = 256;
/** Low 32 bits of the next sequence number (Atomics.add). */
export const G_SEQ_LO = 0;
/** Count of half-epochs of G_SEQ_LO (see core/src/sequence.ts). */
export const G_SEQ_HALVES = 16;
/** Log state (STATE_*), the worst of the shards' states as far as producers care. */
export const G_STATE = 32;

// ---- Records (in the ring and in framed segment files, byte for byte) ----
/**
 * Record header, 16 bytes, little-endian, 8-byte aligned records:
 *   0  int32  length   header + payload bytes (unpadded); 0 = not yet published; < 0 = padding of -length bytes (ring only)
 *   4  uint32 crc      masked CRC-32C of bytes [0,4) then [8, length), filled by the writer
 *   8  uint32 seqLo    low 32 bits of the sequence number
 *   12 uint32 seqHiType  bits 0..20: high bits of the sequence number; bits 24..31: type
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

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Smallest and largest ring capacity accepted. */
export const MIN_RING_BYTES = 64 * 1024;
export const MAX_RING_BYTES = 1024 * 1024 * 1024;

/** Largest frame (header + payload) that fits a ring of this capacity: half of it, so an empty ring always has room. */
export function maxFrameBytes(capacity: number): number {
  return capacity >>> 1;
}

export type Format = 'framed' | 'lines';
export const FORMAT_FRAMED = 1;
export const FORMAT_LINES = 2;

/** Error codes the writer can publish in I_FAIL_CODE, so producers in any thread can name the cause. */
export const ERRNO_CODES = ['UNKNOWN', 'EIO', 'ENOSPC', 'EDQUOT', 'EBADF', 'EROFS', 'EPERM', 'EACCES', 'ENOENT', 'EEXIST', 'EFBIG', 'WORKER_EXIT', 'ESTALLED'] as const;

/** Byte views over one shard ring, made once per thread that holds the ring. */
export interface RingViews {
  sab: SharedArrayBuffer;
  i32: Int32Array;
  b64: BigInt64Array;
  u8: Uint8Array;
  capacity: number;
  mask: number;
}

export function ringViews(sab: SharedArrayBuffer): RingViews {
  const capacity = sab.byteLength - CONTROL_BYTES;
  return {
    sab,
    i32: new Int32Array(sab),
    b64: new BigInt64Array(sab, 0, CONTROL_BYTES / 8),
    u8: new Uint8Array(sab),
    capacity,
    mask: capacity - 1,
  };
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
