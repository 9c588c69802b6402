/** CRC-32C: the standard check value, chaining, and the word-aligned record variant the writer uses. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32c, crc32cUpdate, recordCrc, recordCrcAligned } from '@shardlog/workers';

describe('crc32c', () => {
  it('matches the CRC-32C check value and known vectors', () => {
    const enc = new TextEncoder();
    expect(crc32c(enc.encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43); // 32 bytes of 0xff
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('chains: crc(a+b) == update(crc(a), b)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const ab = new Uint8Array([...a, ...b]);
        expect(crc32cUpdate(crc32c(a), b, 0, b.length)).toBe(crc32c(ab));
      }),
    );
  });

  it('the aligned record CRC equals the byte-wise one for every length and offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 700 }), fc.integer({ min: 0, max: 7 }), (body, slot) => {
        const buf = new Uint8Array(new SharedArrayBuffer(1024));
        const off = slot * 8;
        buf.set(body.subarray(0, Math.min(body.length, buf.length - off)), off);
        const len = Math.min(body.length, buf.length - off);
        const i32 = new Int32Array(buf.buffer);
        expect(recordCrcAligned(buf, i32, off, len)).toBe(recordCrc(buf, off, len));
      }),
    );
  });
});
