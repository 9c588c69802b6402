/**
 * Zeroing what the shard writer consumed from its ring (ring-protocol.ts consume()): a zero length
 * word means "unpublished" to the next pass, and no entry's bytes linger in shared memory. Large
 * ranges are read from /dev/zero straight into the ring (one syscall: the kernel clears user memory
 * at memset speed); short ones, and every range where /dev/zero cannot be opened, are filled through
 * a Float64 view (V8 fills a shared buffer element by element: 8-byte elements are the fastest).
 * Measured on 1 MiB of a SharedArrayBuffer: ~60-80 µs from /dev/zero against ~220-330 µs for the
 * Float64 fill (docs/BENCHMARKS.md).
 */
import * as fs from 'node:fs';

/**
 * Below this many bytes the syscall costs about as much as the fill or more. Measured (two runs):
 * 1 KiB fill 0.8-1.3 µs, read 4.4-4.8; 4 KiB 2.0-2.5 against 2.4-12; 16 KiB 5.5-5.9 against 3.5-5.2;
 * 64 KiB 16-25 against 9-16.
 */
export const ZERO_READ_MIN_BYTES = 16 * 1024;

/** One /dev/zero descriptor per thread, shared by its writers (a pool thread hosts many): opened by the first, closed by the last. */
let shared = -1;
let users = 0;

function acquire(): number {
  if (shared < 0) {
    try {
      shared = fs.openSync('/dev/zero', 'r');
    } catch {
      return -1; // no /dev/zero (Windows, a sandbox): fill
    }
  }
  users++;
  return shared;
}

function release(): void {
  if (--users > 0 || shared < 0) return;
  const fd = shared;
  shared = -1;
  try {
    fs.closeSync(fd);
  } catch {
    /* nothing to do */
  }
}

/** Descriptors of /dev/zero this thread holds open (0 or 1). */
export function devZeroOpen(): number {
  return shared >= 0 ? 1 : 0;
}

export class RingZeroer {
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  /** /dev/zero, or -1: fill instead. */
  private fd = -1;

  constructor(sab: SharedArrayBuffer, useDevZero = process.env.SHARDLOG_RING_ZERO !== 'fill') {
    this.f64 = new Float64Array(sab);
    this.u8 = new Uint8Array(sab);
    if (useDevZero) this.fd = acquire();
  }

  /** 'read' while ranges are read from /dev/zero, 'fill' otherwise. */
  get method(): 'read' | 'fill' {
    return this.fd >= 0 ? 'read' : 'fill';
  }

  /** Zero bytes [start, start + bytes) of the buffer (both multiples of 8). */
  zero(start: number, bytes: number): void {
    if (bytes >= ZERO_READ_MIN_BYTES && this.fd >= 0) this.read(start, bytes);
    else this.f64.fill(0, start >> 3, (start + bytes) >> 3);
  }

  /** Read /dev/zero over the range; the fill finishes what a short or failed read left. */
  private read(start: number, bytes: number): void {
    let done = 0;
    try {
      while (done < bytes) {
        const n = fs.readSync(this.fd, this.u8, start + done, bytes - done, null);
        if (n <= 0) break;
        done += n;
      }
    } catch {
      this.close(); // never fail the shard over zeroing: fill from now on
    }
    // a short read (never seen from /dev/zero): the fill does the rest
    if (done < bytes) this.f64.fill(0, (start + done) >> 3, (start + bytes) >> 3);
  }

  /** Let go of /dev/zero (the writer finished; idempotent); later ranges are filled. */
  close(): void {
    if (this.fd < 0) return;
    this.fd = -1;
    release();
  }
}
