/**
 * The producer: encodes entries straight into a shard's SharedArrayBuffer ring.
 *
 * Hot path of one append (no allocation for Uint8Array entries and strings):
 *   0. a string of up to SCRATCH_CHARS units is first encoded into this producer's scratch buffer,
 *      which gives its exact size (the exclusive producer encodes straight into the ring instead),
 *   1. take the shard's reservation lock (one CAS when uncontended),
 *   2. check room against HEAD, move TAIL past the record (and a padding record if it would not fit
 *      before the ring's end), take the next global sequence number, release the lock;
 *   3. outside the lock, write (or copy from the scratch buffer) payload, seq and type into the
 *      claimed bytes;
 *   4. publish by storing the record's length word last (Atomics.store), and ring the writer's
 *      doorbell only if it sleeps.
 * Taking the sequence number under the same lock that moves TAIL keeps every shard's records in
 * sequence order, so readers can merge shards exactly (docs/DESIGN-NOTES.md says why we chose a
 * lock held for a few instructions over a lock-free claim).
 *
 * A Producer works in any thread that holds the log's ProducerHandle (main thread or workers).
 */
import {
  align8,
  B_DURABLE,
  B_DURABLE_SEQ,
  contiguousRoom,
  CONTROL_BYTES,
  GLOBAL_BYTES,
  isPowerOfTwo,
  doorbell,
  logState,
  producerHead,
  writerSleeping,
  EntryTooLargeError,
  failCode,
  G_STATE,
  H_SEQ_HI,
  H_SEQ_LO,
  HEADER_BYTES,
  I_DURABLE_EPOCH,
  I_FULL_WAITS,
  I_HEAD,
  I_SLEEPING,
  I_SPACE_WAITERS,
  I_STATE,
  I_TAIL,
  InvalidArgumentError,
  lockSlow,
  LOCKED,
  logicalPosition,
  LogClosedError,
  maxFrameBytes,
  publish,
  publishPadding,
  forceSync,
  requestSync,
  reserve,
  RingFullError,
  ringViews,
  seqDurableIn,
  ShardFailedError,
  STATE_CLOSED,
  STATE_CLOSING,
  STATE_FAILED,
  STATE_RUNNING,
  tryLock,
  TYPE_BYTES,
  TYPE_UTF8,
  unlock,
  writeSeqType,
  type RingViews,
} from '@shardlog/workers';
import { initSeq, peekSeq, takeSeq } from './sequence.js';
import { encodeUtf8Js, preferJsUtf8, UTF8_JS_MAX_CHARS, UTF8_JS_SLACK } from './utf8-encode.js';

/** What a thread needs to append into a log: send it through workerData or postMessage. */
export interface ProducerHandle {
  readonly rings: SharedArrayBuffer[];
  readonly global: SharedArrayBuffer;
  readonly format: 'framed' | 'lines';
  readonly onFull: 'wait' | 'throw';
  /** Longest block of one append on a full ring before RingFullError (onFull { waitMs }); absent: no bound (or 0 with 'throw'). */
  readonly fullWaitMs?: number;
  /** Where this producer starts its round-robin (spreads several producers over the shards). */
  readonly firstShard?: number;
}

export type Entry = string | Uint8Array;

const TYPE_BYTES_BITS = TYPE_BYTES << 24;
const TYPE_UTF8_BITS = TYPE_UTF8 << 24;
const TWO32 = 4294967296;
/**
 * Strings of at most this many UTF-16 units take the scratch path in shared mode (encode, claim,
 * copy words); longer ones are sized with Buffer.byteLength and written straight into the ring.
 */
const SCRATCH_CHARS = 256;

/**
 * Buffer's utf8Write/latin1Write (what buf.write dispatches to) skip the argument juggling of
 * buf.write: 58 vs 70 ns for a 100-char string here. Used when present, buf.write otherwise.
 */
interface FastBuffer extends Buffer {
  utf8Write(s: string, offset: number, length: number): number;
  latin1Write(s: string, offset: number, length: number): number;
}
const FAST_WRITE =
  typeof (Buffer.prototype as Partial<FastBuffer>).utf8Write === 'function' && typeof (Buffer.prototype as Partial<FastBuffer>).latin1Write === 'function';
function utf8Write(buf: Buffer, s: string, off: number, len: number): number {
  return FAST_WRITE ? (buf as FastBuffer).utf8Write(s, off, len) : buf.write(s, off, len, 'utf8');
}
function latin1Write(buf: Buffer, s: string, off: number, len: number): number {
  return FAST_WRITE ? (buf as FastBuffer).latin1Write(s, off, len) : buf.write(s, off, len, 'latin1');
}

interface Waiter {
  /** Logical position to reach in the shard (durable() for this producer's own entries), or -1. */
  target: number;
  /** Sequence number to reach (durable(seq)), or -1. */
  seq: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** A zero-length view to copy into: copying a detached or out-of-bounds view into it throws. */
const PROBE = new Uint8Array(0);

export class Producer {
  /** Number of shards. */
  readonly shards: number;
  protected readonly g32: Int32Array;
  private readonly views: RingViews[];
  private readonly i32s: Int32Array[];
  private readonly bufs: Buffer[];
  private readonly u8s: Uint8Array[];
  private readonly capacity: number;
  private readonly mask: number;
  private readonly maxFrame: number;
  private readonly lines: boolean;
  private readonly throwOnFull: boolean;
  private readonly fullWaitMs: number;
  private rr: number;
  /** Sequence number taken by the last claim (set inside claim()). */
  private claimedSeq = 0;
  /**
   * Exclusive mode: this producer is the only one of the log (the main thread before any
   * producerHandle() was handed out). It owns TAIL and the sequence counter: no lock, no
   * read-modify-write per append. share() ends it for good.
   */
  protected exclusive = false;
  /** Next sequence number, in exclusive mode. */
  protected seqNext = 0;
  /** Ring position (wrapping) just past this producer's last record, per shard; has[s] if any. */
  private readonly lastEnd: Int32Array;
  private readonly touched: Uint8Array;
  private readonly waiters: Waiter[][];
  private readonly pumping: boolean[];
  /** Shared mode: short strings are encoded here before the claim (putStringScratch); plus 3 bytes of zeros. */
  private readonly scratch: Buffer;
  private readonly scratch8: Uint8Array;
  private readonly scratch32: Int32Array;
  /** The last string was of mixed character widths: encode the next one in JavaScript (utf8-encode.ts). */
  private jsUtf8 = false;
  /** appendMany's frame sizes, reused across calls. */
  private sizes = new Int32Array(64);
  /** Set by the owner when it learns the full cause of a failure (main thread). */
  protected failureCause: Error | undefined;

  constructor(handle: ProducerHandle) {
    if (!isProducerHandle(handle)) throw new InvalidArgumentError('attachProducer needs the handle returned by log.producerHandle()');
    this.shards = handle.rings.length;
    this.g32 = new Int32Array(handle.global);
    this.views = handle.rings.map(ringViews);
    this.i32s = this.views.map((v) => v.i32);
    this.u8s = this.views.map((v) => v.u8);
    this.bufs = handle.rings.map((sab) => Buffer.from(sab));
    this.capacity = this.views[0].capacity;
    this.mask = this.capacity - 1;
    this.maxFrame = maxFrameBytes(this.capacity);
    this.lines = handle.format === 'lines';
    this.throwOnFull = handle.onFull === 'throw';
    const fw = handle.fullWaitMs;
    this.fullWaitMs = typeof fw === 'number' && fw > 0 ? fw : Infinity;
    this.rr = (handle.firstShard ?? 0) % this.shards;
    this.lastEnd = new Int32Array(this.shards);
    this.touched = new Uint8Array(this.shards);
    this.waiters = this.views.map(() => []);
    this.pumping = this.views.map(() => false);
    const scratch = new ArrayBuffer(SCRATCH_CHARS * 3 + 4);
    this.scratch = Buffer.from(scratch);
    this.scratch8 = new Uint8Array(scratch);
    this.scratch32 = new Int32Array(scratch);
  }

  /** Leave exclusive mode: from now on every producer takes the reservation lock and the shared counter. */
  protected share(): void {
    if (!this.exclusive) return;
    initSeq(this.g32, this.seqNext);
    this.exclusive = false;
  }

  /** The sequence number the next append gets. */
  get nextSeq(): number {
    return this.exclusive ? this.seqNext : peekSeq(this.g32);
  }

  /** Largest payload (bytes) one entry may have. */
  get maxEntryBytes(): number {
    return this.maxFrame - HEADER_BYTES - (this.lines ? 1 : 0);
  }

  /**
   * Append one entry (a string is written as UTF-8, a Uint8Array as is) to the next shard in turn.
   * Returns its sequence number at once; `durable(seq)` tells when it is on disk.
   */
  append(entry: Entry): number {
    const shard = this.rr;
    this.rr = shard + 1 === this.shards ? 0 : shard + 1;
    return this.put(shard, entry);
  }

  /** Append one entry to a chosen shard (for keyed placement): an integer from 0 to shards - 1. */
  appendTo(shard: number, entry: Entry): number {
    if (!(shard >= 0 && shard < this.shards && shard === Math.floor(shard))) {
      throw new InvalidArgumentError(`appendTo(shard) takes an integer from 0 to ${this.shards - 1}, got ${typeof shard === 'number' ? shard : describe(shard)}`);
    }
    return this.put(shard, entry);
  }

  private put(shard: number, entry: Entry): number {
    if (logState(this.g32) !== STATE_RUNNING) this.throwState();
    if (typeof entry === 'string') return this.putString(shard, entry);
    if (entry instanceof Uint8Array) return this.putBytes(shard, entry);
    throw new InvalidArgumentError(`an entry must be a string or a Uint8Array, got ${describe(entry)}`);
  }

  /**
   * Append many entries to one shard with one reservation: all or nothing, with consecutive sequence
   * numbers. Returns the last entry's sequence number; for an empty list, returns 0 and appends
   * nothing. The whole batch (each entry plus 16 bytes of header, rounded up to 8) may take at most
   * half the ring (EntryTooLargeError otherwise); with onFull: 'throw', a batch that does not fit
   * throws RingFullError and appends nothing.
   */
  appendMany(entries: readonly Entry[]): number {
    if (!Array.isArray(entries)) throw new InvalidArgumentError(`appendMany takes an array of entries, got ${describe(entries)}`);
    if (Atomics.load(this.g32, G_STATE) !== STATE_RUNNING) this.throwState();
    const n = entries.length;
    if (n === 0) return 0;
    const total = this.sizeAll(entries);
    const shard = this.rr;
    this.rr = shard + 1 === this.shards ? 0 : shard + 1;
    const idx0 = this.claim(shard, total, n);
    const seq0 = this.claimedSeq;
    const i32 = this.i32s[shard];
    try {
      this.encodeAll(shard, entries, idx0, seq0);
    } catch (e) {
      publishPadding(i32, idx0, total); // the whole reservation: nothing of it is written
      doorbell(i32);
      throw new InvalidArgumentError(`appendMany could not copy an entry: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    // The first record's length word last: the writer stops at it, so the batch appears at once.
    publish(i32, idx0, this.sizes[0]);
    doorbell(i32);
    return seq0 + n - 1;
  }

  /** appendMany: check every entry and size its frame (into this.sizes) before anything is claimed. */
  private sizeAll(entries: readonly Entry[]): number {
    const n = entries.length;
    if (this.sizes.length < n) this.sizes = new Int32Array(Math.max(n, this.sizes.length * 2));
    const sizes = this.sizes; // reused: no allocation per call in steady state
    let total = 0;
    for (let i = 0; i < n; i++) {
      const e = entries[i];
      let bytes: number;
      let nl: number;
      if (typeof e === 'string') {
        bytes = Buffer.byteLength(e, 'utf8');
        nl = this.lines && !endsWithNewline(e) ? 1 : 0;
      } else if (e instanceof Uint8Array) {
        if (e.length === 0) checkView(e, i);
        bytes = e.length;
        nl = this.lines && (e.length === 0 || e[e.length - 1] !== 10) ? 1 : 0;
      } else throw new InvalidArgumentError(`entry ${i} must be a string or a Uint8Array, got ${describe(e)}`);
      const frame = HEADER_BYTES + bytes + nl;
      if (frame > this.maxFrame) throw new EntryTooLargeError(bytes, this.maxEntryBytes);
      sizes[i] = frame;
      total += align8(frame);
    }
    if (total > this.maxFrame) {
      throw new EntryTooLargeError(total, this.maxFrame, {
        entries: n,
        message: `appendMany batch of ${n} entries takes ${total} ring bytes (16 bytes of header per entry, each rounded up to 8), more than the ${this.maxFrame} bytes one reservation may take in this log's ring (half of it): split the batch or raise ringBytes`,
      });
    }
    return total;
  }

  /** appendMany: encode every entry into the reservation; every length word but the first is stored. */
  private encodeAll(shard: number, entries: readonly Entry[], idx0: number, seq0: number): void {
    const u8 = this.u8s[shard];
    const i32 = this.i32s[shard];
    const buf = this.bufs[shard];
    const sizes = this.sizes;
    let idx = idx0;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k];
      const frame = sizes[k];
      const off = CONTROL_BYTES + idx;
      let type: number;
      if (typeof e === 'string') {
        const room = frame - HEADER_BYTES; // UTF-8 bytes, plus 1 if a newline is to be added
        // as many bytes as units: ASCII, so the cheaper Latin-1 copy writes the same bytes
        const ascii = e.length === room || (this.lines && e.length === room - 1 && !endsWithNewline(e));
        const bytes = ascii ? latin1Write(buf, e, off + HEADER_BYTES, e.length) : utf8Write(buf, e, off + HEADER_BYTES, room);
        if (this.lines && bytes < room) u8[off + HEADER_BYTES + bytes] = 10;
        type = TYPE_UTF8_BITS;
      } else {
        u8.set(e, off + HEADER_BYTES);
        if (this.lines && e.length < frame - HEADER_BYTES) u8[off + HEADER_BYTES + e.length] = 10;
        type = TYPE_BYTES_BITS;
      }
      writeSeqType(i32, off, seq0 + k, type);
      if (k > 0) i32[off >> 2] = frame; // made visible by the first record's publish
      idx += align8(frame);
    }
  }

  private putString(shard: number, s: string): number {
    const chars = s.length;
    if (this.exclusive && chars < 0x2aaaaa00) {
      // The exclusive producer encodes straight into the ring with room for the worst case (3 bytes
      // a UTF-16 unit), then sizes the frame by what was written: one pass, no byteLength. (Kept
      // inline, header words written out: V8 inlines this function's calls better that way.)
      const i32 = this.i32s[shard];
      const tail = i32[I_TAIL]; // the exclusive producer owns TAIL
      if (HEADER_BYTES + chars * 3 + UTF8_JS_SLACK <= contiguousRoom(i32, tail, this.capacity)) {
        const idx = tail & this.mask;
        const off = CONTROL_BYTES + idx;
        const buf = this.bufs[shard];
        let bytes: number;
        if (this.jsUtf8 && chars <= UTF8_JS_MAX_CHARS) {
          const u8 = this.u8s[shard];
          const at = off + HEADER_BYTES;
          bytes = encodeUtf8Js(u8, s, at);
          u8[at + bytes] = 0; // its slack: the bytes past TAIL must stay zero
          u8[at + bytes + 1] = 0;
        } else bytes = utf8Write(buf, s, off + HEADER_BYTES, chars * 3);
        this.jsUtf8 = preferJsUtf8(bytes, chars);
        const nl = this.lines && !endsWithNewline(s) ? 1 : 0;
        const frame = HEADER_BYTES + bytes + nl;
        if (frame > this.maxFrame) {
          buf.fill(0, off + HEADER_BYTES, off + HEADER_BYTES + bytes); // the bytes past TAIL must stay zero
          throw new EntryTooLargeError(bytes, this.maxEntryBytes);
        }
        if (nl === 1) buf[off + HEADER_BYTES + bytes] = 10;
        const seq = this.seqNext++;
        i32[(off + H_SEQ_LO) >> 2] = seq % TWO32 | 0;
        i32[(off + H_SEQ_HI) >> 2] = Math.floor(seq / TWO32) | TYPE_UTF8_BITS;
        const end = (tail + align8(frame)) | 0;
        i32[I_TAIL] = end;
        this.lastEnd[shard] = end;
        this.touched[shard] = 1;
        Atomics.store(i32, off >> 2, frame);
        if (writerSleeping(i32)) doorbell(i32);
        return seq;
      }
    }
    if (chars <= SCRATCH_CHARS) return this.putStringScratch(shard, s);
    const bytes = Buffer.byteLength(s, 'utf8');
    const nl = this.lines && !endsWithNewline(s) ? 1 : 0;
    const frame = HEADER_BYTES + bytes + nl;
    if (frame > this.maxFrame) throw new EntryTooLargeError(bytes, this.maxEntryBytes);
    const idx = this.claim(shard, align8(frame), 1);
    const seq = this.claimedSeq;
    const off = CONTROL_BYTES + idx;
    const buf = this.bufs[shard];
    // ASCII (byte length == char count) takes the cheaper Latin-1 copy; the bytes are the same.
    if (bytes === chars) latin1Write(buf, s, off + HEADER_BYTES, bytes);
    else utf8Write(buf, s, off + HEADER_BYTES, bytes);
    if (nl === 1) buf[off + HEADER_BYTES + bytes] = 10;
    const i32 = this.i32s[shard];
    writeSeqType(i32, off, seq, TYPE_UTF8_BITS);
    publish(i32, idx, frame);
    doorbell(i32);
    return seq;
  }

  /**
   * A short string in shared mode: encode it into this producer's private scratch buffer first (one
   * native call that also gives the byte length), claim exactly that, and copy it into the ring a
   * word at a time. Instead of Buffer.byteLength then the write: one native call less per append.
   */
  private putStringScratch(shard: number, s: string): number {
    const sc = this.scratch;
    const bytes = this.jsUtf8 ? encodeUtf8Js(this.scratch8, s, 0) : utf8Write(sc, s, 0, s.length * 3);
    this.jsUtf8 = preferJsUtf8(bytes, s.length);
    sc[bytes] = 0; // the last word copied must carry zeros past the payload (the record's padding)
    sc[bytes + 1] = 0;
    sc[bytes + 2] = 0;
    const nl = this.lines && !endsWithNewline(s) ? 1 : 0;
    const frame = HEADER_BYTES + bytes + nl;
    if (frame > this.maxFrame) throw new EntryTooLargeError(bytes, this.maxEntryBytes);
    const idx = this.claim(shard, align8(frame), 1);
    const seq = this.claimedSeq;
    const off = CONTROL_BYTES + idx;
    const i32 = this.i32s[shard];
    const src = this.scratch32;
    const dst = (off + HEADER_BYTES) >> 2;
    const words = (bytes + 3) >> 2;
    for (let w = 0; w < words; w++) i32[dst + w] = src[w];
    if (nl === 1) this.u8s[shard][off + HEADER_BYTES + bytes] = 10;
    writeSeqType(i32, off, seq, TYPE_UTF8_BITS);
    publish(i32, idx, frame);
    doorbell(i32);
    return seq;
  }

  private putBytes(shard: number, b: Uint8Array): number {
    const len = b.length;
    if (len === 0) checkView(b, -1); // a detached or out-of-bounds view reads as empty: refuse it here
    const nl = this.lines && (len === 0 || b[len - 1] !== 10) ? 1 : 0;
    const frame = HEADER_BYTES + len + nl;
    if (frame > this.maxFrame) throw new EntryTooLargeError(len, this.maxEntryBytes);
    const size = align8(frame);
    const i32 = this.i32s[shard];
    const u8 = this.u8s[shard];
    let idx: number;
    let seq: number;
    if (this.exclusive && (idx = reserve(i32, this.capacity, size)) >= 0) {
      seq = this.seqNext++;
      this.lastEnd[shard] = i32[I_TAIL];
      this.touched[shard] = 1;
    } else {
      idx = this.claim(shard, size, 1);
      seq = this.claimedSeq;
    }
    const off = CONTROL_BYTES + idx;
    try {
      u8.set(b, off + HEADER_BYTES);
    } catch (e) {
      this.abandon(i32, idx, size, e);
    }
    if (nl === 1) u8[off + HEADER_BYTES + len] = 10;
    writeSeqType(i32, off, seq, TYPE_BYTES_BITS);
    publish(i32, idx, frame);
    doorbell(i32);
    return seq;
  }

  /**
   * A copy into a claimed record threw: publish the claim as padding (the ring keeps no hole; the
   * writer skips it and zeroes it with what it consumes), then throw. Its seq is never used.
   */
  private abandon(i32: Int32Array, idx: number, size: number, e: unknown): never {
    publishPadding(i32, idx, size);
    doorbell(i32);
    throw new InvalidArgumentError(`the entry could not be copied: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }

  /**
   * Reserve `size` bytes (8-aligned) in `shard`'s ring and `count` sequence numbers. Returns the
   * data index of the reservation; the first seq is left in this.claimedSeq. The seqs are taken
   * under the same lock as the space, so a shard's records are in seq order.
   */
  private claim(shard: number, size: number, count: number): number {
    const i32 = this.i32s[shard];
    let waitingSince = -1;
    for (;;) {
      const locked = !this.exclusive;
      if (locked && !tryLock(i32) && lockSlow(i32, this.g32) !== LOCKED) this.throwState();
      // The common case, room before the ring's end, is reserve()'s first branch written out here:
      // measured, going through reserve() for it cost ~20 ns more per append in shared mode.
      const tail = i32[I_TAIL];
      const free = this.capacity - ((tail - producerHead(i32)) | 0);
      const at = tail & this.mask;
      if (size <= this.capacity - at && size <= free) {
        this.claimedSeq = this.takeSeqs(count);
        const end = (tail + size) | 0;
        i32[I_TAIL] = end;
        if (locked) unlock(i32);
        this.lastEnd[shard] = end;
        this.touched[shard] = 1;
        return at;
      }
      const idx = reserve(i32, this.capacity, size); // padding at the end and index 0, or no room
      if (idx >= 0) {
        const end = i32[I_TAIL];
        this.claimedSeq = this.takeSeqs(count);
        if (locked) unlock(i32);
        this.lastEnd[shard] = end;
        this.touched[shard] = 1;
        return idx;
      }
      if (locked) unlock(i32);
      waitingSince = this.waitForRoom(shard, i32, size, waitingSince);
    }
  }

  private takeSeqs(count: number): number {
    if (!this.exclusive) return takeSeq(this.g32, count);
    const seq = this.seqNext;
    this.seqNext = seq + count;
    return seq;
  }

  /**
   * The ring is full: block this thread until the writer frees room (or fail / throw), at most 20 ms
   * a call. `since` is when this append started waiting (-1: now); past onFull's waitMs it throws
   * RingFullError, nothing of the entry claimed. Returns `since`.
   */
  private waitForRoom(shard: number, i32: Int32Array, size: number, since: number): number {
    Atomics.add(i32, I_FULL_WAITS, 1);
    if (this.throwOnFull) throw new RingFullError(shard, ` (needed ${size} bytes; opened with onFull: 'throw')`);
    let wait = 20;
    if (this.fullWaitMs !== Infinity) {
      const now = Date.now();
      if (since < 0) since = now;
      const left = this.fullWaitMs - (now - since);
      if (left <= 0) throw new RingFullError(shard, ` (needed ${size} bytes; the writer did not free that much within onFull.waitMs = ${this.fullWaitMs} ms)`);
      wait = Math.min(wait, left);
    }
    Atomics.add(i32, I_SPACE_WAITERS, 1);
    try {
      const head = Atomics.load(i32, I_HEAD);
      const st = Atomics.load(this.g32, G_STATE);
      if (st !== STATE_RUNNING && st !== STATE_CLOSING) this.throwState();
      doorbell(i32);
      Atomics.wait(i32, I_HEAD, head, wait);
    } finally {
      Atomics.sub(i32, I_SPACE_WAITERS, 1);
    }
    return since;
  }

  protected throwState(): never {
    const st = Atomics.load(this.g32, G_STATE);
    if (st === STATE_FAILED) throw this.failureError();
    if (st === STATE_CLOSING || st === STATE_CLOSED) throw new LogClosedError();
    throw new LogClosedError('the log is not open');
  }

  /**
   * The error of a failed log, always with a cause: the writer's own error when this thread learnt
   * it (the owner does, from the writer's message), else one that carries the code the writer
   * published in shared memory.
   */
  protected failureError(): Error {
    for (let s = 0; s < this.shards; s++) {
      if (Atomics.load(this.i32s[s], I_STATE) === STATE_FAILED) {
        const code = failCode(this.i32s[s]);
        if (this.failureCause) return new ShardFailedError(s, this.failureCause.message, { cause: this.failureCause });
        const cause = Object.assign(new Error(`${code}: the writer of shard ${s} failed`), { code });
        return new ShardFailedError(s, `writer failed (${code}); the log accepts no more appends`, { cause });
      }
    }
    return new ShardFailedError(-1, this.failureCause?.message ?? 'the log failed', { cause: this.failureCause ?? new Error('the log failed') });
  }

  /**
   * Resolves once the entry `seq` is durable: written and fdatasynced by its shard's writer, whichever
   * thread appended it (a seq not yet handed out is an InvalidArgumentError). Without `seq`: once
   * everything this producer appended so far is durable. Many waiters share one fsync (group commit).
   * Rejects with ShardFailedError if a write or sync failed, LogClosedError if the log closed first.
   */
  durable(seq?: number): Promise<void> {
    if (seq !== undefined) {
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
        return Promise.reject(new InvalidArgumentError(`durable(seq) takes a sequence number returned by append, got ${describe(seq)}`));
      }
      const next = this.nextSeq;
      if (seq >= next) return Promise.reject(new InvalidArgumentError(`durable(${seq}): no entry has that sequence number yet (the next append gets ${next})`));
    }
    const st = Atomics.load(this.g32, G_STATE);
    if (st === STATE_FAILED) return Promise.reject(this.failureError());
    const ps: Promise<void>[] = [];
    for (let s = 0; s < this.shards; s++) {
      let target = -1;
      if (seq !== undefined) {
        // The shard of a seq is not known here: every shard must be past it (docs/FORMAT.md 2.4).
        if (seqDurableIn(this.i32s[s], this.views[s].b64, seq)) continue;
      } else {
        if (this.touched[s] === 0) continue;
        target = this.targetFor(s);
        if (Number(Atomics.load(this.views[s].b64, B_DURABLE)) >= target) continue;
      }
      if (st === STATE_CLOSED) return Promise.reject(new LogClosedError('the log closed before the entry was durable'));
      const w: Waiter = { target, seq: seq ?? -1, resolve: noop, reject: noop };
      ps.push(new Promise<void>((resolve, reject) => ((w.resolve = resolve), (w.reject = reject), this.enqueue(s, w))));
    }
    if (ps.length === 0) return Promise.resolve();
    if (ps.length === 1) return ps[0];
    return Promise.all(ps).then(() => undefined);
  }

  /** Logical (64-bit) position just past this producer's last record in shard s. */
  private targetFor(s: number): number {
    return logicalPosition(this.i32s[s], this.views[s].b64, this.lastEnd[s]);
  }

  private enqueue(s: number, w: Waiter): void {
    this.waiters[s].push(w);
    if (!this.pumping[s]) {
      this.pumping[s] = true;
      void this.pump(s);
    }
  }

  /** Resolve the waiters of shard s that are satisfied; keep the others in order. */
  private settle(s: number, q: Waiter[]): void {
    const v = this.views[s];
    const durable = Number(Atomics.load(v.b64, B_DURABLE));
    const durableSeq = Number(Atomics.load(v.b64, B_DURABLE_SEQ));
    let k = 0;
    for (let i = 0; i < q.length; i++) {
      const w = q[i];
      const done = w.seq >= 0 ? w.seq <= durableSeq || seqDurableIn(v.i32, v.b64, w.seq) : w.target <= durable;
      if (done) w.resolve();
      else q[k++] = w;
    }
    q.length = k;
  }

  /** One loop per shard resolves all of this producer's waiters on that shard. */
  private async pump(s: number): Promise<void> {
    const v = this.views[s];
    const q = this.waiters[s];
    // Atomics.waitAsync does not keep Node's event loop alive: without a ref'd handle, a thread whose
    // only pending work is this wait would exit (a worker thread silently) with its durable() unsettled.
    // The handle is also the pump's periodic look (a shard that becomes idle without a sync, e.g. a
    // lock released, is seen within RECHECK_MS): it rings the word the pump sleeps on. A timeout
    // on waitAsync itself would do the same but costs twice the main thread's CPU per wait (a timed
    // waitAsync arms a timer of V8's for every call: 23 against 10 us per append + durable() here).
    const keepAlive = setInterval(() => Atomics.notify(v.i32, I_DURABLE_EPOCH), RECHECK_MS);
    try {
      while (q.length > 0) {
        const epoch = Atomics.load(v.i32, I_DURABLE_EPOCH);
        this.settle(s, q);
        if (q.length === 0) break;
        const st = Atomics.load(this.g32, G_STATE);
        const sst = Atomics.load(v.i32, I_STATE);
        if (st === STATE_FAILED || sst === STATE_FAILED) {
          const e = this.failureError();
          for (const w of q.splice(0)) w.reject(e);
          break;
        }
        if (st === STATE_CLOSED || sst === STATE_CLOSED) {
          const e = new LogClosedError('the log closed before the entry was durable');
          for (const w of q.splice(0)) w.reject(e);
          break;
        }
        // ask for a sync (policies none/bytes honour it; batch syncs anyway), then sleep on the epoch
        // until a publication, a failure, or keepAlive's periodic ring
        requestSync(v.i32);
        const r = Atomics.waitAsync(v.i32, I_DURABLE_EPOCH, epoch);
        if (r.async) await r.value;
      }
    } finally {
      clearInterval(keepAlive);
      this.pumping[s] = false;
      if (q.length > 0) {
        this.pumping[s] = true;
        void this.pump(s);
      }
    }
  }

  /**
   * durable() for code that cannot wait for a promise (a process 'exit' handler, a signal handler,
   * pino's fatal()): blocks this thread with Atomics.wait on each touched shard's durable epoch
   * until everything this producer appended so far is fdatasynced, asking the writers for a sync
   * whatever their policy. The writers are other threads, so they make progress while this one
   * sleeps. Returns false if `timeoutMs` passed first; throws ShardFailedError if the log failed and
   * LogClosedError if it closed with the entries still not durable.
   */
  durableSync(timeoutMs = 10_000): boolean {
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      throw new InvalidArgumentError(`durableSync(timeoutMs) takes a number of ms >= 0 (Infinity: no limit), got ${typeof timeoutMs === 'number' ? timeoutMs : describe(timeoutMs)}`);
    }
    const deadline = Date.now() + timeoutMs;
    for (let s = 0; s < this.shards; s++) {
      if (this.touched[s] === 0) continue;
      const v = this.views[s];
      const target = this.targetFor(s);
      for (;;) {
        const epoch = Atomics.load(v.i32, I_DURABLE_EPOCH);
        if (Number(Atomics.load(v.b64, B_DURABLE)) >= target) break;
        const st = Atomics.load(this.g32, G_STATE);
        const sst = Atomics.load(v.i32, I_STATE);
        if (st === STATE_FAILED || sst === STATE_FAILED) throw this.failureError();
        if (st === STATE_CLOSED || sst === STATE_CLOSED) throw new LogClosedError('the log closed before the entry was durable');
        const left = deadline - Date.now();
        if (left <= 0) return false;
        forceSync(v.i32);
        Atomics.wait(v.i32, I_DURABLE_EPOCH, epoch, Math.min(left, 100));
      }
    }
    return true;
  }
}

function noop(): void {}

/** The shape log.producerHandle() gives: rings of a control block plus a power-of-two data region, a global block. */
function isProducerHandle(h: ProducerHandle): boolean {
  if (!h || typeof h !== 'object' || !Array.isArray(h.rings) || h.rings.length === 0) return false;
  if (!(h.global instanceof SharedArrayBuffer) || h.global.byteLength < GLOBAL_BYTES) return false;
  return h.rings.every((r) => r instanceof SharedArrayBuffer && r.byteLength > CONTROL_BYTES && isPowerOfTwo(r.byteLength - CONTROL_BYTES));
}

/** How often a durable() pump looks again without being woken (ms). */
const RECHECK_MS = 50;

/** A Uint8Array that reads as empty may be a view over a detached or shrunk buffer: refuse it before claiming. */
function checkView(b: Uint8Array, i: number): void {
  try {
    PROBE.set(b);
  } catch (e) {
    const what = i < 0 ? 'the entry' : `entry ${i}`;
    throw new InvalidArgumentError(`${what} is a Uint8Array over a detached or out-of-bounds buffer: ${(e as Error).message}`, { cause: e });
  }
}

function endsWithNewline(s: string): boolean {
  return s.length > 0 && s.charCodeAt(s.length - 1) === 10;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return typeof v;
}

/**
 * Append a list of any length in order, as few appendMany reservations as fit (each half the ring at
 * most): for callers that gather entries they did not size (stream chunks, buffered lines). A bad or
 * too large entry anywhere throws before anything is appended. Returns the last seq.
 */
export function appendInPieces(p: Producer, entries: Entry[]): number {
  try {
    return p.appendMany(entries);
  } catch (e) {
    if (!(e instanceof EntryTooLargeError) || e.entries === undefined || entries.length < 2) throw e;
  }
  const mid = entries.length >> 1;
  appendInPieces(p, entries.slice(0, mid)); // each half: every entry checked already, the halves fit or split again
  return appendInPieces(p, entries.slice(mid));
}

/** Attach a producer to a log opened in another thread, from the handle it sent you. */
export function attachProducer(handle: ProducerHandle): Producer {
  return new Producer(handle);
}
