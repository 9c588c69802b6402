/**
 * Zeroing what the writer consumed from its ring (RingZeroer): every byte of the range becomes 0,
 * whether read from /dev/zero (large ranges) or filled (small ones, or no /dev/zero), and no byte
 * outside it changes; the shared /dev/zero descriptor is closed once the last writer lets go.
 */
import { describe, expect, it } from 'vitest';
import { CONTROL_BYTES, createRing, devZeroOpen, RingZeroer, ZERO_READ_MIN_BYTES } from '@shardlog/workers';

function filledRing(capacity: number): { sab: SharedArrayBuffer; u8: Uint8Array } {
  const sab = createRing(capacity, 1000);
  const u8 = new Uint8Array(sab);
  u8.fill(0xa5, CONTROL_BYTES);
  return { sab, u8 };
}

function check(u8: Uint8Array, start: number, bytes: number): void {
  const zeroed = u8.subarray(start, start + bytes);
  expect(zeroed.every((b) => b === 0)).toBe(true);
  expect(u8[start - 1]).toBe(0xa5);
  if (start + bytes < u8.length) expect(u8[start + bytes]).toBe(0xa5);
  expect(u8.subarray(start + bytes).every((b) => b === 0xa5)).toBe(true);
}

describe('ring zeroing (RingZeroer)', () => {
  for (const useDevZero of [true, false]) {
    const how = useDevZero ? 'from /dev/zero where it can' : 'filled';
    it(`zeroes exactly the range, small and large, ${how}`, () => {
      const capacity = 1 << 20;
      for (const [off, bytes] of [
        [8, 8],
        [4096, ZERO_READ_MIN_BYTES - 8],
        [64, ZERO_READ_MIN_BYTES],
        [65536 + 8, 512 * 1024 + 24],
        [capacity - ZERO_READ_MIN_BYTES * 2, ZERO_READ_MIN_BYTES * 2],
      ]) {
        const { sab, u8 } = filledRing(capacity);
        const z = new RingZeroer(sab, useDevZero);
        if (!useDevZero) expect(z.method).toBe('fill');
        z.zero(CONTROL_BYTES + off, bytes);
        check(u8, CONTROL_BYTES + off, bytes);
        expect(u8.subarray(CONTROL_BYTES, CONTROL_BYTES + off).every((b) => b === 0xa5)).toBe(true);
        z.close();
      }
    });
  }

  it('reads /dev/zero on Linux, one descriptor for all writers of a thread, closed by the last', () => {
    if (process.platform !== 'linux') return;
    const a = new RingZeroer(filledRing(1 << 16).sab);
    const b = new RingZeroer(filledRing(1 << 16).sab);
    expect(a.method).toBe('read');
    expect(devZeroOpen()).toBe(1);
    a.close();
    a.close(); // idempotent: b still holds it
    expect(devZeroOpen()).toBe(1);
    b.close();
    expect(devZeroOpen()).toBe(0);
    expect(b.method).toBe('fill');
  });
});
