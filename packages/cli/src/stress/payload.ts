/**
 * Stress entries: what a producer appends and what the verifier expects, both from
 * (seed, producer id, per-producer index) alone.
 *
 * Every entry starts with a 24-byte stress header naming its producer and index (and its size), so
 * the verifier can tell whose entry it reads and where it belongs, then a body cut from a seeded
 * pool (1 MiB of random bytes for --kind binary; 256 Ki characters of ASCII mixed with 2- and 3-byte
 * UTF-8 characters for --kind string) at an offset and length that entryKeys() fixes. The verifier
 * regenerates the expected bytes and compares byte for byte (Buffer.compare over pool slices: no copy).
 *
 *   binary header (little-endian u32s): magic 'SLST', seed32, producer, index lo, index hi, size
 *   string header (ASCII):              'SL' producer:4 hex, index:10 hex, size:8 hex
 */
import { InvalidArgumentError } from '@shardlog/workers';
import type { SizeDist } from './options.js';
import { entryKeys, Rng, seed32 } from './prng.js';

export const STRESS_HEADER_BYTES = 24;
const MAGIC = 0x54534c53; // 'SLST' little-endian
const POOL_BYTES = 1 << 20;
const POOL_CHARS = 1 << 18;
const ALPHA = 1.2; // heavy tail: Pareto shape
const WIDE = ['é', 'ñ', 'ж', 'λ', 'ß', '€', '中', '✓', 'あ', '∑']; // 2- and 3-byte UTF-8, no surrogates
const DOT = 0x2e;
const DOTS = ['', '.', '..', '...'];
const MAX_PRODUCERS = 0xffff;

export interface PayloadSpec {
  seed: number;
  kind: 'binary' | 'string';
  /** Resolved: heavy.max is set. */
  size: SizeDist;
}

/** What check() found: the entry's identity, or why it is not a valid stress entry. */
export interface Decoded {
  producer: number;
  index: number;
  /** Set when the entry is not exactly what (producer, index) should be. */
  error?: string;
}

export class Payloads {
  readonly spec: PayloadSpec;
  readonly s32: number;
  private readonly pool: Buffer;
  /** String kind: the pool as a string, and the byte offset of each character (length POOL_CHARS + 1). */
  private readonly poolStr: string = '';
  private readonly charOff: Uint32Array | undefined;
  private readonly keys = new Uint32Array(2);
  private scratch = Buffer.alloc(4096);
  private readonly heavyC: number = 0;

  constructor(spec: PayloadSpec) {
    this.spec = spec;
    this.s32 = seed32(spec.seed);
    const rng = new Rng(spec.seed ^ 0x5eed);
    if (spec.kind === 'binary') {
      this.pool = Buffer.alloc(POOL_BYTES);
      rng.fill(this.pool);
    } else {
      const chars: string[] = new Array(POOL_CHARS);
      for (let i = 0; i < POOL_CHARS; i++) {
        const r = rng.next();
        chars[i] = r % 10 === 0 ? WIDE[(r >>> 8) % WIDE.length] : String.fromCharCode(0x20 + ((r >>> 8) % 95));
      }
      this.poolStr = chars.join('');
      this.pool = Buffer.from(this.poolStr, 'utf8');
      this.charOff = new Uint32Array(POOL_CHARS + 1);
      let off = 0;
      for (let i = 0; i < POOL_CHARS; i++) {
        this.charOff[i] = off;
        off += Buffer.byteLength(chars[i], 'utf8');
      }
      this.charOff[POOL_CHARS] = off;
    }
    if (spec.size.kind === 'heavy') this.heavyC = 1 - (spec.size.min / spec.size.max!) ** ALPHA;
  }

  /** Size of an entry whose first key is k0. */
  private sizeFor(k0: number): number {
    const s = this.spec.size;
    switch (s.kind) {
      case 'fixed':
        return s.bytes;
      case 'uniform':
        return s.min + Math.floor((k0 / 4294967296) * (s.max - s.min + 1));
      case 'heavy': {
        // inverse CDF of a Pareto truncated to [min, max]
        const u = k0 / 4294967296;
        const x = Math.floor(s.min / (1 - u * this.heavyC) ** (1 / ALPHA));
        return Math.min(s.max!, Math.max(s.min, x));
      }
    }
  }

  /** The size (payload bytes) of entry `index` of `producer`. */
  sizeOf(producer: number, index: number): number {
    entryKeys(this.s32, producer, index, this.keys);
    return this.sizeFor(this.keys[0]);
  }

  /**
   * Producer side, --kind binary: the entry's bytes, in a scratch buffer reused by the next call
   * (append copies it into the ring).
   */
  binary(producer: number, index: number): Uint8Array {
    entryKeys(this.s32, producer, index, this.keys);
    const size = this.sizeFor(this.keys[0]);
    if (this.scratch.length < size) this.scratch = Buffer.alloc(Math.max(size, this.scratch.length * 2));
    const b = this.scratch;
    b.writeUInt32LE(MAGIC, 0);
    b.writeUInt32LE(this.s32, 4);
    b.writeUInt32LE(producer, 8);
    b.writeUInt32LE(index >>> 0, 12);
    b.writeUInt32LE(Math.floor(index / 4294967296), 16);
    b.writeUInt32LE(size, 20);
    let pos = STRESS_HEADER_BYTES;
    let src = this.keys[1] % POOL_BYTES;
    while (pos < size) {
      const n = Math.min(size - pos, POOL_BYTES - src);
      this.pool.copy(b, pos, src, src + n);
      pos += n;
      src = 0;
    }
    return b.subarray(0, size);
  }

  /** Producer side, --kind string: the entry as a string whose UTF-8 form is exactly sizeOf() bytes. */
  string(producer: number, index: number): string {
    entryKeys(this.s32, producer, index, this.keys);
    const size = this.sizeFor(this.keys[0]);
    let s = stringHeader(producer, index, size);
    const pad = this.walkChars(this.keys[1] % POOL_CHARS, size - STRESS_HEADER_BYTES, (a, b) => {
      s += a === 0 && b === POOL_CHARS ? this.poolStr : this.poolStr.slice(a, b);
    });
    return pad === 0 ? s : s + DOTS[pad];
  }

  /** The UTF-8 bytes of a string entry, in the scratch buffer (for the producer's running hash). */
  encode(s: string): Uint8Array {
    const need = s.length * 3;
    if (this.scratch.length < need) this.scratch = Buffer.alloc(Math.max(need, this.scratch.length * 2));
    const n = this.scratch.write(s, 0, 'utf8');
    return this.scratch.subarray(0, n);
  }

  /**
   * Walk the string pool from character `c` for `bytes` UTF-8 bytes, calling `piece` with character
   * ranges [a, b); returns how many bytes (0-2) are left to pad with dots because the next character
   * would not fit.
   */
  private walkChars(c: number, bytes: number, piece: (a: number, b: number) => void): number {
    const off = this.charOff!;
    const total = off[POOL_CHARS];
    let left = bytes;
    let pos = c;
    while (left > 0) {
      const avail = total - off[pos];
      if (avail <= left) {
        piece(pos, POOL_CHARS);
        left -= avail;
        pos = 0;
        continue;
      }
      // the largest e with off[e] - off[pos] <= left
      let lo = pos;
      let hi = POOL_CHARS;
      const limit = off[pos] + left;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (off[mid] <= limit) lo = mid;
        else hi = mid - 1;
      }
      if (lo > pos) piece(pos, lo);
      left -= off[lo] - off[pos];
      break;
    }
    return left;
  }

  /**
   * Verifier side: who wrote this entry, and is it byte for byte what (producer, index) should be?
   * `isText` is the record's type as read back (a string entry must come back as text).
   */
  check(d: Uint8Array, isText: boolean): Decoded {
    const buf = Buffer.from(d.buffer, d.byteOffset, d.length);
    if (d.length < STRESS_HEADER_BYTES) return { producer: -1, index: -1, error: `entry of ${d.length} bytes is shorter than the stress header` };
    let producer: number;
    let index: number;
    let size: number;
    if (this.spec.kind === 'binary') {
      if (buf.readUInt32LE(0) !== MAGIC) return { producer: -1, index: -1, error: 'entry does not start with the stress header magic' };
      producer = buf.readUInt32LE(8);
      index = buf.readUInt32LE(12) + buf.readUInt32LE(16) * 4294967296;
      size = buf.readUInt32LE(20);
      if (buf.readUInt32LE(4) !== this.s32) return { producer, index, error: 'entry was written with another seed' };
      if (isText) return { producer, index, error: 'a binary entry came back typed as text' };
    } else {
      const h = buf.toString('latin1', 0, STRESS_HEADER_BYTES);
      const m = /^SL([0-9a-f]{4})([0-9a-f]{10})([0-9a-f]{8})$/.exec(h);
      if (!m) return { producer: -1, index: -1, error: 'entry does not start with the stress header' };
      producer = parseInt(m[1], 16);
      index = parseInt(m[2], 16);
      size = parseInt(m[3], 16);
      if (!isText) return { producer, index, error: 'a string entry came back typed as bytes' };
    }
    entryKeys(this.s32, producer, index, this.keys);
    const want = this.sizeFor(this.keys[0]);
    if (size !== want || d.length !== want) return { producer, index, error: `entry is ${d.length} bytes (header says ${size}), expected ${want}` };
    let pos = STRESS_HEADER_BYTES;
    let bad = -1;
    if (this.spec.kind === 'binary') {
      let src = this.keys[1] % POOL_BYTES;
      while (pos < want && bad < 0) {
        const n = Math.min(want - pos, POOL_BYTES - src);
        if (this.pool.compare(buf, pos, pos + n, src, src + n) !== 0) bad = pos;
        pos += n;
        src = 0;
      }
    } else {
      const off = this.charOff!;
      const pad = this.walkChars(this.keys[1] % POOL_CHARS, want - STRESS_HEADER_BYTES, (a, b) => {
        if (bad >= 0) return;
        const n = off[b] - off[a];
        if (this.pool.compare(buf, pos, pos + n, off[a], off[b]) !== 0) bad = pos;
        pos += n;
      });
      for (let i = 0; i < pad && bad < 0; i++) if (buf[pos + i] !== DOT) bad = pos + i;
    }
    if (bad >= 0) return { producer, index, error: `payload differs from what producer ${producer} appended as its entry ${index} (first difference near byte ${bad})` };
    return { producer, index };
  }
}

function hex(n: number, w: number): string {
  return n.toString(16).padStart(w, '0');
}

function stringHeader(producer: number, index: number, size: number): string {
  return 'SL' + hex(producer, 4) + hex(index, 10) + hex(size, 8);
}

export function checkProducerId(id: number): void {
  if (id > MAX_PRODUCERS) throw new InvalidArgumentError(`too many producers over all cycles (${id} > ${MAX_PRODUCERS})`);
}
