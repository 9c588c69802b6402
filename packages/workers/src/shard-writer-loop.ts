/**
 * The shard writer: owns one shard's files and consumes its ring (one per writer thread).
 *
 * Each pass takes everything published since the last one (a Batch, up to maxBatchBytes), writes it
 * with ONE writev of at most two views over the SharedArrayBuffer (framed: behind a 32-byte frame
 * header checksummed with the native CRC-32C, one frame per batch), zeroes what it consumed, moves
 * HEAD, and syncs as the SyncClock says: pipelined group commit and flush-behind in the background
 * (SegmentFiles). A roll (size reached, or rotate()) syncs the old segment before the next exists.
 * While idle it sleeps on its doorbell, and fails the shard if a claimed record stays unpublished
 * for I_STALL_MS (a producer died mid-append). A failed write or sync fails the shard for good.
 */
import * as path from 'node:path';
import { serializeError, type SerializedError } from './errors.js';
import { recoverShard, type ShardRecovery } from './recovery.js';
import {
  consume,
  failShard,
  I_SLEEPING,
  I_STALL_MS,
  I_STATE,
  I_TAIL,
  I_HEAD,
  I_DURABLE_EPOCH,
  publishDurable,
  ringViews,
  STATE_CLOSED,
  STATE_RUNNING,
  wakeSpaceWaiters,
  type RingViews,
} from './ring-protocol.js';
import type { ShardWriterApi, ShardWriterData, StartResult } from './rpc.js';
import { shardDirName } from './segment.js';
import { crc32cRange } from './crc-native.js';
import { F_CRC, finishFrameCrc, FRAME_FLAG_ENCRYPTED, FRAME_HEADER_BYTES, frameHeaderCrc, writeFrameHeader } from './frame.js';
import { GCM_TAG_BYTES } from './frame-crypto.js';
import { zeroKeyRing, type KeyRing } from './encryption-keys.js';
import { Batch } from './writer-batch.js';
import { RingZeroer } from './ring-zero.js';
import { WriterCounters } from './writer-counters.js';
import { SegmentFiles } from './writer-files.js';
import { exitAfterBatches, slowDisk } from './writer-faults.js';
import { SyncTrace } from './writer-trace.js';
import { INLINE_SYNC_BYTES, ROLL_INLINE_BYTES, SYNC_FLUSH_BEHIND, SYNC_NO, SyncClock } from './writer-sync-policy.js';

const yieldNow = () => new Promise<void>((r) => setImmediate(r));

/** What one idle pass of the loop decided. */
const IDLE_STOP = 0;
const IDLE_AGAIN = 1;
const IDLE_WOKEN = 2;

/** Where the writer reports a failure: its thread's port, or a host's port that adds which writer. */
export interface FailurePort {
  postMessage(message: unknown): void;
}

export class ShardWriter {
  private readonly ring: RingViews;
  private readonly i32: Int32Array;
  private readonly g32: Int32Array;
  private readonly zeroer: RingZeroer;
  private readonly counters: WriterCounters;
  private readonly files: SegmentFiles;
  private readonly batch: Batch;
  private readonly sync: SyncClock;
  private readonly views: Uint8Array[] = [];
  /** Framed format version 2: one frame per batch. */
  private readonly framed: boolean;
  /** The frame header of the batch being written (format version 2). */
  private readonly frameHeader = new Uint8Array(FRAME_HEADER_BYTES);
  private readonly frameView = new DataView(this.frameHeader.buffer);
  /** Encrypted: the keys (zeroed when the writer finishes), the batch's plaintext views, the frame's tag. */
  private keys: KeyRing | undefined;
  private readonly plain: Uint8Array[] = [];
  private readonly tag = new Uint8Array(GCM_TAG_BYTES);
  /** Ring position (bytes, wraps at 2^32); 0 unless a test starts it elsewhere. */
  private head: number;
  /** Logical bytes made durable. */
  private durable: number;
  private closing = false;
  private failed: SerializedError | undefined;
  private rotateRequested = false;
  private rotateWaiters: (() => void)[] = [];
  private rollFlushed = false; // this roll already flushed in the background once
  private stalledAt = -1; // ring position where a claimed record was first seen unpublished
  private stalledSince = 0;
  private loop: Promise<void> | undefined;
  /** Ring bytes drained before yielding to the thread's other work (other hosted writers). */
  private readonly turnBytes: number;
  private starting: Promise<StartResult> | undefined;
  /** The latency breakdown's trace (TestFaults.syncTrace), if asked for. */
  private readonly trace: SyncTrace | undefined;

  constructor(
    private readonly data: ShardWriterData,
    private readonly port: FailurePort | null,
  ) {
    this.ring = ringViews(data.ring);
    this.i32 = this.ring.i32;
    this.g32 = new Int32Array(data.global);
    this.zeroer = new RingZeroer(data.ring);
    this.counters = new WriterCounters(this.ring.b64);
    this.head = Atomics.load(this.i32, I_HEAD);
    this.counters.written = this.head >>> 0;
    this.durable = this.counters.written;
    const shardDir = path.join(data.dir, shardDirName(data.shard));
    const enc = data.encryption;
    if (enc) this.keys = { keyId: enc.keyId, keys: new Map(Object.entries(enc.keys)) };
    const crypto = enc && this.keys ? { ring: this.keys, logId: enc.logId } : undefined;
    this.trace = SyncTrace.from(data.testFaults?.syncTrace);
    const files = { shardDir, shard: data.shard, format: data.format, faults: data.testFaults, crypto, trace: this.trace };
    this.files = new SegmentFiles(files, this.counters, (t, s) => this.synced(t, s), (e) => this.fail(e), () => Atomics.notify(this.i32, I_SLEEPING));
    this.framed = data.format === 'framed' && this.files.version === 2;
    this.batch = new Batch(this.ring, data.format, Math.min(data.maxBatchBytes, this.ring.capacity >>> 1), data.format === 'framed' && !this.framed);
    this.sync = new SyncClock(data.sync, this.i32);
    this.turnBytes = data.hosted ? data.hosted.turnBytes : Infinity;
  }

  /** The control plane (comlink): start after recovery, rotate, close. */
  api(): ShardWriterApi {
    return { started: () => (this.starting ??= this.start()), rotate: () => this.rotate(), close: () => this.finish() };
  }

  /** The thread ends without a clean close (an exception, process.exit, terminate): never leave producers waiting. */
  onExit(): void {
    this.zeroer.close();
    if (Atomics.load(this.i32, I_STATE) === STATE_CLOSED || this.failed) return;
    failShard(this.i32, this.g32, 'WORKER_EXIT');
  }

  private async start(): Promise<StartResult> {
    let recovery: ShardRecovery;
    try {
      recovery = recoverShard(this.data.dir, this.data.shard, this.data.format, { skipCorrupt: this.data.skipCorrupt, keys: this.keys, logId: this.data.encryption?.logId });
    } catch (e) {
      return { ok: false, error: serializeError(e) };
    }
    const t = recovery.tail;
    if (t) this.files.adopt(t.file, t.size, t.maxSeq, t.version, t.chainCrc);
    else this.files.maxSeq = recovery.lastSeq;
    this.counters.lastSeq = recovery.lastSeq;
    publishDurable(this.i32, this.ring.b64, this.durable, recovery.lastSeq); // everything recovered is durable
    Atomics.store(this.i32, I_STATE, STATE_RUNNING);
    this.loop = this.run();
    return { ok: true, recovery };
  }

  private rotate(): Promise<void> {
    if (this.failed || this.closing) return Promise.resolve();
    this.rotateRequested = true; // run() closes the open segment after draining what is pending, then resolves
    Atomics.notify(this.i32, I_SLEEPING);
    return new Promise((r) => this.rotateWaiters.push(r));
  }

  private resolveRotates(): void {
    this.rotateRequested = false;
    for (const w of this.rotateWaiters.splice(0)) w();
  }

  /** Write one batch. Returns the number of ring bytes consumed (0: nothing published). */
  private drainOnce(): number {
    const tail = Atomics.load(this.i32, I_TAIL);
    if (tail === this.head) return 0;
    const b = this.batch;
    if (b.collect(this.head, tail) === 0) return 0;
    if (b.entries > 0) this.writeBatch(b);
    consume(this.i32, this.zeroer, this.ring.capacity, this.head, b.bytes, b.end);
    this.head = b.end;
    const c = this.counters;
    c.written += b.bytes;
    c.entries += b.entries;
    c.payload += b.payload;
    if (b.entries > 0) c.batches++; // (a wrap's padding alone is consumed, but is no batch: no frame was written)
    c.publish();
    wakeSpaceWaiters(this.i32);
    exitAfterBatches(this.data.testFaults, c.batches);
    return b.bytes;
  }

  private writeBatch(b: Batch): void {
    const files = this.files;
    if (files.fd < 0) files.open(b.firstSeq);
    const views = this.views;
    views.length = 0;
    let total: number;
    if (this.framed) {
      // one frame per batch: its header from a preallocated buffer, then the records straight from the ring
      const fh = this.frameHeader;
      views.push(fh);
      let body: number;
      if (files.sealer) {
        const plain = this.plain;
        plain.length = 0;
        body = b.views(plain);
        writeFrameHeader(this.frameView, 0, files.chain, b.firstSeq, b.entries, body, FRAME_FLAG_ENCRYPTED);
        for (const c of files.sealer.seal(fh, 0, plain, this.tag)) views.push(c);
        views.push(this.tag);
        plain.length = 0;
      } else {
        body = b.views(views);
        writeFrameHeader(this.frameView, 0, files.chain, b.firstSeq, b.entries, body);
      }
      let crc = frameHeaderCrc(fh, 0);
      for (let i = 1; i < views.length; i++) crc = crc32cRange(crc, views[i], 0, views[i].length);
      const stored = finishFrameCrc(crc);
      this.frameView.setUint32(F_CRC, stored, true);
      files.chain = stored;
      total = FRAME_HEADER_BYTES + body + (files.sealer ? GCM_TAG_BYTES : 0);
    } else total = b.views(views);
    const t0 = this.trace ? this.trace.now() : 0;
    files.write(views, total, b.maxSeq);
    this.trace?.wrote(t0, b.maxSeq, total);
    slowDisk(this.data.testFaults);
    if (b.maxSeq > this.counters.lastSeq) this.counters.lastSeq = b.maxSeq;
  }

  /** Sync if the policy (or a waiter, or flush-behind) asks for it; then publish the new durable position. */
  private maybeSync(force: boolean): void {
    const c = this.counters;
    const files = this.files;
    if (c.written === this.durable || files.syncing) return;
    const due = this.sync.check(force, files.unsynced);
    if (due === SYNC_NO) return;
    if (due === SYNC_FLUSH_BEHIND) {
      files.syncInBackground(c.written, c.lastSeq);
      return;
    }
    if (files.unsynced === 0 && !files.dirDirty) {
      this.publishDurable(c.written, c.lastSeq); // nothing left unsynced
      return;
    }
    // A small sync runs inline (no pool hop: lower latency); a large one, with more waiting in the
    // ring, is overlapped with writing it. Never inline when other writers share this thread: an
    // inline fdatasync would stall them all.
    const large = files.unsynced > INLINE_SYNC_BYTES && Atomics.load(this.i32, I_TAIL) !== this.head;
    if (this.data.hosted || large) files.syncInBackground(c.written, c.lastSeq);
    else files.syncInline(c.written, c.lastSeq);
  }

  private synced(target: number, seq: number): void {
    this.counters.countSync();
    this.sync.syncedAt = Date.now();
    this.publishDurable(target, seq);
  }

  private publishDurable(target: number, seq: number): void {
    if (target <= this.durable) return;
    this.durable = target;
    publishDurable(this.i32, this.ring.b64, target, seq);
    this.trace?.published(seq);
  }

  private fail(e: unknown): void {
    if (this.failed) return;
    this.failed = serializeError(e);
    this.resolveRotates();
    failShard(this.i32, this.g32, this.failed.code ?? 'UNKNOWN');
    this.port?.postMessage({ type: 'failed', shard: this.data.shard, error: this.failed });
  }

  /**
   * Roll (size reached, or rotate() asked, after the batch that held what was appended before it).
   * It comes before policy syncs, or a steady stream of background syncs would starve it. A large
   * unsynced tail is flushed once in the background while writing on into the same segment; then
   * the remainder is synced inline and the segment closed; the next batch starts a new one.
   */
  private roll(): void {
    const files = this.files;
    if (files.syncing) return; // wait for the sync in flight, writing on into this segment meanwhile
    if (this.rotateRequested && files.openAndEmpty) {
      // a segment holding no record (a crash cut them all) is as good as a new one, and the next
      // seq may be its very name: keep appending to it
      this.resolveRotates();
    } else if (files.unsynced > ROLL_INLINE_BYTES && !this.rollFlushed) {
      this.rollFlushed = true;
      files.syncInBackground(this.counters.written, this.counters.lastSeq);
    } else {
      this.rollFlushed = false;
      files.close(this.counters.written, this.counters.lastSeq);
      if (this.rotateRequested) this.resolveRotates();
    }
  }

  /** One busy pass: drain a batch, then roll or sync. Returns the ring bytes consumed. */
  private step(): number {
    // nothing open: a rotate is done at once (what is appended after it resolves starts a new segment)
    if (this.rotateRequested && this.files.fd < 0) this.resolveRotates();
    const n = this.drainOnce();
    if (this.files.fd >= 0 && (this.files.size >= this.data.segmentBytes || this.rotateRequested)) this.roll();
    else this.maybeSync(false);
    return n;
  }

  private async run(): Promise<void> {
    let sinceYield = 0;
    let turn = 0;
    for (;;) {
      if (this.failed) return;
      let n: number;
      try {
        n = this.step();
      } catch (e) {
        this.fail(e);
        return;
      }
      if (n > 0) {
        turn += n;
        if (this.files.syncing || ++sinceYield >= 16 || turn >= this.turnBytes) {
          sinceYield = 0;
          turn = 0;
          const y0 = this.trace ? this.trace.now() : 0;
          await yieldNow(); // let control messages (rotate, close) in
          this.trace?.yielded(y0);
        }
        continue;
      }
      if (this.closing) return;
      const r = await this.idle();
      if (r === IDLE_STOP) return;
      if (r === IDLE_WOKEN) sinceYield = turn = 0;
    }
  }

  /** Idle: sleep until a producer rings, a waiter asks for a sync, or the ms policy's timer is due. */
  private async idle(): Promise<number> {
    const i32 = this.i32;
    Atomics.store(i32, I_SLEEPING, 1);
    const pendingTail = Atomics.load(i32, I_TAIL) !== this.head;
    const syncing = this.files.syncing;
    const wantsSync = !syncing && this.sync.requested() && this.counters.written !== this.durable;
    if (wantsSync || this.closing || (this.rotateRequested && !syncing)) {
      Atomics.store(i32, I_SLEEPING, 0);
      if (wantsSync) {
        try {
          this.maybeSync(true);
        } catch (e) {
          this.fail(e);
          return IDLE_STOP;
        }
      }
      await yieldNow();
      return IDLE_AGAIN;
    }
    if (pendingTail) {
      if (this.stalled()) return IDLE_STOP;
    } else this.stalledAt = -1;
    let timeout = pendingTail ? 1 : 1000; // a claimed record is being written: look again soon
    if (this.counters.written !== this.durable && !syncing) timeout = Math.min(timeout, this.sync.msUntilDue());
    const slept = this.trace ? this.trace.now() : 0;
    const w = Atomics.waitAsync(i32, I_SLEEPING, 1, timeout);
    if (w.async) await w.value;
    else await yieldNow();
    this.trace?.slept(slept, timeout);
    Atomics.store(i32, I_SLEEPING, 0);
    return IDLE_WOKEN;
  }

  /**
   * A record is claimed but not published. A producer copies for microseconds; one that died
   * between claim and publish (a killed thread) would stall this shard forever: fail it loudly.
   */
  private stalled(): boolean {
    if (this.stalledAt !== this.head) {
      this.stalledAt = this.head;
      this.stalledSince = Date.now();
      return false;
    }
    const limit = Atomics.load(this.i32, I_STALL_MS);
    if (Date.now() - this.stalledSince <= limit) return false;
    const e = new Error(
      `a record claimed at ring position ${this.head >>> 0} was not published within ${limit} ms: a producer thread died or stalled mid-append`,
    ) as NodeJS.ErrnoException;
    e.code = 'ESTALLED';
    this.fail(e);
    return true;
  }

  private async finish(): Promise<{ ok: boolean; error?: SerializedError }> {
    this.closing = true;
    Atomics.notify(this.i32, I_SLEEPING);
    await this.loop;
    if (this.files.syncing) await this.files.syncDone;
    if (!this.failed) {
      try {
        await this.drainLateClaims();
        // sync what is left (always, whatever the policy), publish it, close the file
        const c = this.counters;
        this.files.close(c.written, c.lastSeq);
        this.publishDurable(c.written, c.lastSeq);
        c.publish();
        Atomics.store(this.i32, I_STATE, STATE_CLOSED);
      } catch (e) {
        this.fail(e);
      }
    } else this.files.abandon();
    zeroKeyRing(this.keys);
    this.zeroer.close();
    this.trace?.save();
    Atomics.notify(this.i32, I_DURABLE_EPOCH);
    Atomics.notify(this.i32, I_HEAD);
    return this.failed ? { ok: false, error: this.failed } : { ok: true };
  }

  /** Records claimed before close began but not yet published: give their producers a moment. */
  private async drainLateClaims(): Promise<void> {
    const deadline = Date.now() + 2000;
    while (Atomics.load(this.i32, I_TAIL) !== this.head && Date.now() < deadline) {
      if (this.drainOnce() === 0) await new Promise((r) => setTimeout(r, 1));
    }
  }
}
