/**
 * The shard writer's counters, kept as plain numbers and published into the ring's control block
 * (BigInt64 words) once per batch, so stats() and follow() read them without a message.
 */
import {
  B_BATCHES,
  B_ENTRIES,
  B_FILE_BYTES,
  B_FSYNCS,
  B_LAST_SEQ,
  B_PAYLOAD,
  B_SEGMENTS,
  B_WRITEV,
  B_WRITTEN,
} from './ring-protocol.js';

export class WriterCounters {
  /** Logical ring bytes consumed (exact up to 2^53); mod 2^32 it is the ring's HEAD. */
  written = 0;
  entries = 0;
  payload = 0;
  batches = 0;
  writev = 0;
  fsyncs = 0;
  fileBytes = 0;
  segments = 0;
  /** Highest seq written. */
  lastSeq = 0;

  constructor(private readonly b64: BigInt64Array) {}

  /** In this order (docs/FORMAT.md 2.1): WRITTEN first, LAST_SEQ last. */
  publish(): void {
    const b64 = this.b64;
    Atomics.store(b64, B_WRITTEN, BigInt(this.written));
    Atomics.store(b64, B_ENTRIES, BigInt(this.entries));
    Atomics.store(b64, B_PAYLOAD, BigInt(this.payload));
    Atomics.store(b64, B_BATCHES, BigInt(this.batches));
    Atomics.store(b64, B_WRITEV, BigInt(this.writev));
    Atomics.store(b64, B_FSYNCS, BigInt(this.fsyncs));
    Atomics.store(b64, B_FILE_BYTES, BigInt(this.fileBytes));
    Atomics.store(b64, B_SEGMENTS, BigInt(this.segments));
    Atomics.store(b64, B_LAST_SEQ, BigInt(this.lastSeq));
  }

  /** One more fdatasync, published before DURABLE moves (so a woken waiter sees it). */
  countSync(): void {
    this.fsyncs++;
    Atomics.store(this.b64, B_FSYNCS, BigInt(this.fsyncs));
  }
}
