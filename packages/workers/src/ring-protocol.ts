/**
 * The ring protocol: the control block of a shard's SharedArrayBuffer ring and of the log's global
 * block (descriptor constants), and every step producers, the shard writer, the owner and follow()
 * take on them, as small functions (V8 inlines them into the hot paths). docs/FORMAT.md 2 describes
 * the same; any change here is a format change of the ring (private to one process).
 *
 * One SharedArrayBuffer per shard: CONTROL_BYTES of control block, then the data region (capacity
 * bytes, a power of two). Hot words written by different parties sit on different 64-byte lines.
 *
 *  byte   0  I_TAIL           int32  producers' claim position (bytes, wraps at 2^32); under the lock
 *  byte   4  I_LOCK           int32  reservation lock: 0 free, 1 held, 2 held with waiters
 *  byte  64  I_HEAD           int32  writer's consume position (wraps): before it, written and zeroed
 *  byte 128  I_SLEEPING       int32  1 while the writer sleeps on it (the doorbell)
 *  byte 132  I_SYNC_REQ       int32  bumped by durable() waiters that need a sync sooner
 *  byte 136  I_STATE          int32  STATE_*
 *  byte 140  I_DURABLE_EPOCH  int32  bumped and notified after each sync that moved DURABLE
 *  byte 144  I_SPACE_WAITERS  int32  producers blocked on a full ring (the writer notifies I_HEAD)
 *  byte 148  I_FULL_WAITS     int32  times producers found the ring full (statistics, wraps)
 *  byte 152  I_FAIL_CODE      int32  index into ERRNO_CODES once the shard failed
 *  byte 156  I_STALL_MS       int32  ms a claim may stay unpublished (or the lock held) before failing
 *  byte 160  I_SYNC_FORCE     int32  bumped by durableSync(): a sync now, whatever the policy
 *  byte 256  B_WRITTEN        int64  logical bytes consumed and written (never wraps)
 *  byte 264  B_DURABLE        int64  logical bytes made durable by fdatasync
 *  byte 272  B_ENTRIES .. byte 328 B_LAST_SEQ: int64 counters (below), written by the writer only
 *  byte 336  B_DURABLE_SEQ    int64  highest seq of this shard made durable (all before it too)
 *  byte 512  data region
 *
 * Global block (GLOBAL_BYTES): G_SEQ_LO (byte 0), G_SEQ_HALVES (byte 64): the 53-bit sequence
 * counter (core/src/sequence.ts); G_STATE (byte 128): the log's state as producers see it.
 */
import * as os from 'node:os';
import type { RingZeroer } from './ring-zero.js';

/**
 * The control block's Int32 word indexes as a const enum, so the protocol's functions below compile
 * to literals: measured, reading module constants there cost ~2 ns per append. The exported names
 * (I_*, CONTROL_BYTES) are the same values.
 */
const enum W {
  CONTROL_BYTES = 512,
  TAIL = 0,
  LOCK = 1,
  HEAD = 16,
  SLEEPING = 32,
  SYNC_REQ = 33,
  STATE = 34,
  DURABLE_EPOCH = 35,
  SPACE_WAITERS = 36,
  FULL_WAITS = 37,
  FAIL_CODE = 38,
  STALL_MS = 39,
  SYNC_FORCE = 40,
}

/** Bytes of the control block before the data region. */
export const CONTROL_BYTES = W.CONTROL_BYTES;

// ---- Int32 word indexes in a ring's control block ----
export const I_TAIL = W.TAIL;
export const I_LOCK = W.LOCK;
export const I_HEAD = W.HEAD;
export const I_SLEEPING = W.SLEEPING;
export const I_SYNC_REQ = W.SYNC_REQ;
export const I_STATE = W.STATE;
export const I_DURABLE_EPOCH = W.DURABLE_EPOCH;
export const I_SPACE_WAITERS = W.SPACE_WAITERS;
export const I_FULL_WAITS = W.FULL_WAITS;
export const I_FAIL_CODE = W.FAIL_CODE;
export const I_STALL_MS = W.STALL_MS;
export const I_SYNC_FORCE = W.SYNC_FORCE;

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
export const B_DURABLE_SEQ = 42; // byte 336: highest seq made durable

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

/** Smallest and largest ring capacity accepted. */
export const MIN_RING_BYTES = 64 * 1024;
export const MAX_RING_BYTES = 1024 * 1024 * 1024;

/**
 * Largest reservation (one record, or one appendMany batch, framing included) in a ring of this
 * capacity: half of it, so an empty ring always has room for it wherever TAIL stands (it fits
 * before the end, or the end is shorter than the half and it fits at index 0 after padding).
 */
export function maxFrameBytes(capacity: number): number {
  return capacity >>> 1;
}

/**
 * Error codes a shard's failure can carry in I_FAIL_CODE, so producers in any thread can name the
 * cause. shardlog's own first, then every errno name this platform has: the ring is private to one
 * process, whose threads all build the same table.
 */
export const ERRNO_CODES: readonly string[] = (() => {
  const own = ['UNKNOWN', 'EIO', 'ENOSPC', 'EDQUOT', 'EBADF', 'EROFS', 'EPERM', 'EACCES', 'ENOENT', 'EEXIST', 'EFBIG', 'WORKER_EXIT', 'ESTALLED'];
  for (const c of Object.keys(os.constants.errno).sort()) if (!own.includes(c)) own.push(c);
  return Object.freeze(own);
})();

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

/** Allocate a shard ring of `capacity` data bytes; `start` sets the 32-bit positions (tests of their wrap). */
export function createRing(capacity: number, stallMs: number, start?: number): SharedArrayBuffer {
  const ring = new SharedArrayBuffer(CONTROL_BYTES + capacity);
  const i32 = new Int32Array(ring);
  Atomics.store(i32, I_STALL_MS, stallMs);
  if (start !== undefined) {
    const b64 = new BigInt64Array(ring, 0, CONTROL_BYTES / 8);
    i32[I_TAIL] = start | 0;
    i32[I_HEAD] = start | 0;
    b64[B_WRITTEN] = BigInt(start >>> 0);
    b64[B_DURABLE] = BigInt(start >>> 0);
  }
  return ring;
}

// ============================== producers ==============================

/** Take the reservation lock at once if it is free (one CAS). */
export function tryLock(i32: Int32Array): boolean {
  return Atomics.compareExchange(i32, W.LOCK, 0, 1) === 0;
}

export const LOCKED = 0;
/** The log failed or closed while waiting for the lock. */
export const LOCK_LOG_DOWN = 1;
/** The lock stayed held for I_STALL_MS: its holder died; the shard was failed (ESTALLED). */
export const LOCK_STALLED = 2;

/**
 * The contended path of the lock: spin a little, then wait on the word (2 = held with waiters, so
 * the holder's unlock notifies). Returns LOCKED, or why not (the lock is then not held).
 */
export function lockSlow(i32: Int32Array, g32: Int32Array): number {
  for (let spin = 0; spin < 200; spin++) {
    if (Atomics.compareExchange(i32, W.LOCK, 0, 1) === 0) return LOCKED;
  }
  const deadline = Date.now() + Atomics.load(i32, W.STALL_MS);
  while (Atomics.exchange(i32, W.LOCK, 2) !== 0) {
    const st = Atomics.load(g32, G_STATE);
    if (st === STATE_FAILED || st === STATE_CLOSED) return LOCK_LOG_DOWN;
    if (Date.now() > deadline) {
      failShard(i32, g32, 'ESTALLED');
      return LOCK_STALLED;
    }
    Atomics.wait(i32, W.LOCK, 2, 5);
  }
  return LOCKED;
}

export function unlock(i32: Int32Array): void {
  if (Atomics.exchange(i32, W.LOCK, 0) === 2) Atomics.notify(i32, W.LOCK, 1);
}

/**
 * Whether producers may read HEAD (the writer's consumed position) and SLEEPING (the writer's
 * doorbell flag) with plain loads instead of Atomics.load on the append path (producerHead,
 * writerSleeping). Atomics.load is a builtin call in V8 (not inlined): 3-8 ns more per load than a
 * plain one, and the exclusive producer made two per append. Safe on x86 (TSO), as for the
 * writer's scan (PLAIN_LENGTH_READS): HEAD is stored by the writer with Atomics.store after it
 * zeroed the consumed bytes, and stores become visible in order, so a HEAD seen comes with its
 * zeroes; a stale HEAD only makes the room look smaller (the slow path then reads it again). The
 * SLEEPING load follows the producer's publish, an Atomics.store (a full barrier on x86: the load
 * cannot pass it), so the doorbell handshake (the writer stores SLEEPING then reads TAIL; the
 * producer stores TAIL and the length word, then reads SLEEPING) still has one side see the other.
 * In V8's compiled code a plain typed-array load stays on the effect chain after an atomic store.
 * Weakly ordered CPUs keep Atomics.load. SHARDLOG_RING_PRODUCER=atomic forces it anywhere.
 */
export const PLAIN_PRODUCER_READS = (process.arch === 'x64' || process.arch === 'ia32') && process.env.SHARDLOG_RING_PRODUCER !== 'atomic';

/** HEAD as a producer reads it (a plain load where PLAIN_PRODUCER_READS allows). */
export function producerHead(i32: Int32Array): number {
  return PLAIN_PRODUCER_READS ? i32[W.HEAD] : Atomics.load(i32, W.HEAD);
}

/**
 * The log's state (G_STATE) as an append checks it first: a plain load where PLAIN_PRODUCER_READS
 * allows. The check was never atomic with the append that follows (a close on another thread can
 * come between them either way); V8 reads the word afresh at every call.
 */
export function logState(g32: Int32Array): number {
  return PLAIN_PRODUCER_READS ? g32[G_STATE] : Atomics.load(g32, G_STATE);
}

/** Whether the writer sleeps (its doorbell flag), as a producer reads it after publishing. */
export function writerSleeping(i32: Int32Array): boolean {
  return (PLAIN_PRODUCER_READS ? i32[W.SLEEPING] : Atomics.load(i32, W.SLEEPING)) === 1;
}

/**
 * Claim `size` bytes (8-aligned) at TAIL, under the lock (or by the exclusive producer). Returns the
 * data index of the claim, or -1 if the ring has no room. A claim that does not fit before the
 * ring's end is placed at index 0 after a padding record, published at once. TAIL is only written
 * under the lock: a plain read and write suffice; the unlock's exchange orders them for others.
 */
export function reserve(i32: Int32Array, capacity: number, size: number): number {
  const tail = i32[W.TAIL];
  const free = capacity - ((tail - producerHead(i32)) | 0);
  const idx = tail & (capacity - 1);
  const toEnd = capacity - idx;
  if (size <= toEnd) {
    if (size > free) return -1;
    i32[W.TAIL] = (tail + size) | 0;
    return idx;
  }
  if (toEnd + size > free) return -1;
  i32[W.TAIL] = (tail + toEnd + size) | 0;
  publishPadding(i32, idx, toEnd);
  return 0;
}

/**
 * Bytes free at TAIL (`tail`, read by the caller) before the ring's end, for the exclusive producer that encodes first and sizes
 * the record after (it then moves TAIL itself with advanceTail).
 */
export function contiguousRoom(i32: Int32Array, tail: number, capacity: number): number {
  return Math.min(capacity - (tail & (capacity - 1)), capacity - ((tail - producerHead(i32)) | 0));
}

/** Publish a record: its length word, stored last (everything written before it is visible with it). */
export function publish(i32: Int32Array, idx: number, frame: number): void {
  Atomics.store(i32, (W.CONTROL_BYTES + idx) >> 2, frame);
}

/** Publish `bytes` (8-aligned) at `idx` as padding: consumed by the writer, never written. */
export function publishPadding(i32: Int32Array, idx: number, bytes: number): void {
  Atomics.store(i32, (W.CONTROL_BYTES + idx) >> 2, -bytes);
}

/**
 * Ring a sleeping writer's doorbell. Only the producer that flips I_SLEEPING from 1 to 0 notifies:
 * the writer clears the flag itself only once its asynchronous wake-up runs, and until then every
 * append would otherwise make its own futex call. The writer waits on the value 1, so a flag already
 * cleared makes its wait return at once.
 */
export function doorbell(i32: Int32Array): void {
  if (writerSleeping(i32) && Atomics.compareExchange(i32, W.SLEEPING, 1, 0) === 1) Atomics.notify(i32, W.SLEEPING);
}

/** Ask the writer for a sync sooner than its policy would (durable() waiters), and wake it. */
export function requestSync(i32: Int32Array): void {
  Atomics.add(i32, W.SYNC_REQ, 1);
  doorbell(i32);
}

/**
 * durableSync()'s request (an exit or signal handler, pino's flushSync): a sync as soon as the
 * writer sees it, whatever the policy; `{ everyMs }` honours it too, where it rate-limits durable().
 */
export function forceSync(i32: Int32Array): void {
  Atomics.add(i32, W.SYNC_FORCE, 1);
  doorbell(i32);
}

// ============================== the writer ==============================

/** The length word at data index `idx`: > 0 a published record, 0 unpublished, < 0 padding. */
export function lengthAt(i32: Int32Array, idx: number): number {
  return Atomics.load(i32, (W.CONTROL_BYTES + idx) >> 2);
}

/**
 * Whether the writer's scan may read length words with plain loads (lengthPlain) instead of
 * Atomics.load. V8 does not inline Atomics.load: each one is a builtin call, measured at ~25-30 ns
 * against ~2 ns for a plain load (Node 20 and 24), which made it the largest part of scanning the
 * ring. On x86 (TSO) a load is never reordered with a later load and the producer's Atomics.store
 * drains every earlier store first, so a length word seen published comes with the record's bytes;
 * the scan only reads ahead (a stale 0 ends the batch early, the next pass sees it), never waits on
 * the word, and the bytes themselves are read by writev after an opaque call. Weakly ordered CPUs
 * (arm64) keep the acquire load. SHARDLOG_RING_SCAN=atomic forces it anywhere (tests, comparison).
 */
export const PLAIN_LENGTH_READS = (process.arch === 'x64' || process.arch === 'ia32') && process.env.SHARDLOG_RING_SCAN !== 'atomic';

/** lengthAt() as a plain load: only where PLAIN_LENGTH_READS says the CPU's ordering allows it. */
export function lengthPlain(i32: Int32Array, idx: number): number {
  return i32[(W.CONTROL_BYTES + idx) >> 2];
}

/**
 * Consume `bytes` from ring position `head`: zero them (a zero length word always means
 * "unpublished", and no stale entry bytes linger), then move HEAD to `newHead` and wake producers
 * blocked on a full ring. Everything is 8-aligned.
 */
export function consume(i32: Int32Array, zeroer: RingZeroer, capacity: number, head: number, bytes: number, newHead: number): void {
  const hIdx = head & (capacity - 1);
  if (hIdx + bytes <= capacity) {
    zeroer.zero(W.CONTROL_BYTES + hIdx, bytes);
  } else {
    zeroer.zero(W.CONTROL_BYTES + hIdx, capacity - hIdx);
    zeroer.zero(W.CONTROL_BYTES, hIdx + bytes - capacity);
  }
  Atomics.store(i32, W.HEAD, newHead);
}

/** After consume() and the counters: wake producers waiting for room, if any. */
export function wakeSpaceWaiters(i32: Int32Array): void {
  if (Atomics.load(i32, W.SPACE_WAITERS) > 0) Atomics.notify(i32, W.HEAD);
}

/** Publish that the shard's first `position` logical bytes, up to seq `seq`, are durable, and wake waiters. */
export function publishDurable(i32: Int32Array, b64: BigInt64Array, position: number, seq: number): void {
  Atomics.store(b64, B_DURABLE_SEQ, BigInt(seq)); // before DURABLE: a reader of DURABLE sees it
  Atomics.store(b64, B_DURABLE, BigInt(position));
  Atomics.add(i32, W.DURABLE_EPOCH, 1);
  Atomics.notify(i32, W.DURABLE_EPOCH);
}

// ============================== failure ==============================

/**
 * Mark a shard failed (any thread): its fail code, the shard's and the log's state, and wake
 * everyone who could be waiting on it (durable() waiters, producers on a full ring or the lock,
 * follow()). A shard already closed keeps that state; the first fail code stays.
 */
export function failShard(i32: Int32Array, g32: Int32Array, code: string): void {
  const idx = ERRNO_CODES.indexOf(code);
  Atomics.compareExchange(i32, W.FAIL_CODE, 0, idx < 0 ? 0 : idx);
  if (Atomics.load(i32, W.STATE) !== STATE_CLOSED) Atomics.store(i32, W.STATE, STATE_FAILED);
  Atomics.store(g32, G_STATE, STATE_FAILED);
  Atomics.notify(i32, W.DURABLE_EPOCH);
  Atomics.notify(i32, W.HEAD);
  Atomics.notify(i32, W.LOCK);
  Atomics.notify(g32, G_STATE);
}

/** The code a failed shard published ('UNKNOWN' if none). */
export function failCode(i32: Int32Array): string {
  return ERRNO_CODES[Atomics.load(i32, W.FAIL_CODE)] ?? 'UNKNOWN';
}

// ============================== durability, seen from outside ==============================

const TWO32 = 4294967296;

/**
 * The logical (64-bit, never wrapping) position of ring position `end` (32-bit, wrapping), the end
 * of a record claimed in this shard: exact while the record is claimed or recently written; for
 * one consumed long ago, WRITTEN (already durable once DURABLE reaches it).
 */
export function logicalPosition(i32: Int32Array, b64: BigInt64Array, end: number): number {
  const written = Number(Atomics.load(b64, B_WRITTEN));
  const tail = Atomics.load(i32, W.TAIL);
  const head32 = written % TWO32 | 0;
  const delta = (end - head32) | 0;
  if (delta <= 0) return written + delta; // already consumed (or older: waiting for `written` is enough)
  return delta <= ((tail - head32) | 0) ? written + delta : written;
}

/**
 * Nothing claimed in this shard is unwritten or unsynced, and no claim is in progress: TAIL equals
 * WRITTEN, the lock is free, DURABLE equals WRITTEN. Seen after reading the log's next seq N, the
 * shard cannot later receive a seq below N (a seq below N was taken under the lock before that read,
 * and its TAIL move is visible once the lock is seen free). The exclusive producer takes no lock,
 * but it runs in the thread asking, never concurrently.
 */
export function shardIdle(i32: Int32Array, b64: BigInt64Array): boolean {
  const lock = Atomics.load(i32, W.LOCK);
  const tail = Atomics.load(i32, W.TAIL);
  const written = Number(Atomics.load(b64, B_WRITTEN));
  const durable = Number(Atomics.load(b64, B_DURABLE));
  return lock === 0 && tail === (written % TWO32 | 0) && durable >= written;
}

/**
 * The highest seq `w` such that every record of this shard with a seq <= w is durable, given the
 * log's next seq `next` read BEFORE this call: an idle shard is bounded by next - 1, a busy one by
 * its durable seq (its records are in seq order, and DURABLE covers a prefix of them).
 */
export function durableBound(i32: Int32Array, b64: BigInt64Array, next: number): number {
  const durableSeq = Number(Atomics.load(b64, B_DURABLE_SEQ));
  return shardIdle(i32, b64) ? Math.max(next - 1, durableSeq) : durableSeq;
}

/**
 * Whether `seq` (taken before this call) is durable as far as this shard is concerned: its
 * durable seq reached it, or the shard is idle (then if it holds `seq`, that record is synced).
 */
export function seqDurableIn(i32: Int32Array, b64: BigInt64Array, seq: number): boolean {
  return Number(Atomics.load(b64, B_DURABLE_SEQ)) >= seq || shardIdle(i32, b64);
}
