/**
 * The entries every benchmark writes: fixed pools of distinct, deterministic entries of each shape,
 * cycled (entry i is pool[i % POOL]). Every system writes the same entries; the verifier knows,
 * from the pool alone, how many there must be and what their checksum is.
 *
 * Shapes:
 *   ascii    100-byte ASCII string (no characters JSON would escape, so pino's `msg` is the entry itself)
 *   utf8     100 bytes of UTF-8 with multi-byte characters (2, 3 and 4 bytes)
 *   binary   100 random bytes (a Uint8Array)
 *   json1k   a 1 KiB JSON object, as a string
 * Line-oriented peers write the string plus '\n'; shardlog writes the entry as one record.
 */
import { crc32cUpdate } from '@shardlog/workers';

export type Shape = 'ascii' | 'utf8' | 'binary' | 'json1k';
export const SHAPES: readonly Shape[] = ['ascii', 'utf8', 'binary', 'json1k'];

/** Pool size: a power of two, so `i & POOL_MASK` picks the entry. */
export const POOL = 1024;
export const POOL_MASK = POOL - 1;

/** Payload bytes of one entry of each shape. */
export const ENTRY_BYTES: Record<Shape, number> = { ascii: 100, utf8: 100, binary: 100, json1k: 1024 };

/** mulberry32: a small seeded PRNG, so every process builds the same pools. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ASCII = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_=+()[]{}!?#$%&*/|@^~';
const MULTI = ['é', 'ß', 'ü', 'ж', 'λ', '€', '日', '本', '語', '✓', '→', '😀', '🚀'];

function asciiEntry(i: number, rnd: () => number, bytes: number): string {
  let s = `#${String(i).padStart(6, '0')} `;
  while (s.length < bytes) s += ASCII[Math.floor(rnd() * ASCII.length)];
  return s;
}

function utf8Entry(i: number, rnd: () => number): string {
  let s = `#${String(i).padStart(6, '0')} `;
  let n = Buffer.byteLength(s);
  for (;;) {
    const c = rnd() < 0.5 ? MULTI[Math.floor(rnd() * MULTI.length)] : ASCII[Math.floor(rnd() * ASCII.length)];
    const b = Buffer.byteLength(c);
    if (n + b > 100) break;
    s += c;
    n += b;
  }
  while (n < 100) {
    s += 'x';
    n++;
  }
  return s;
}

function json1kEntry(i: number, rnd: () => number): string {
  const obj = {
    seq: i,
    ts: 1_700_000_000_000 + i * 17,
    level: 'info',
    service: 'checkout',
    msg: 'order placed',
    user: { id: Math.floor(rnd() * 1e9), name: asciiEntry(i, rnd, 24).replace(/[^a-z]/gi, 'x'), roles: ['buyer', 'beta'] },
    cart: Array.from({ length: 6 }, (_, k) => ({ sku: `SKU-${(i * 7 + k) % 100000}`, qty: 1 + k, price: Math.round(rnd() * 10000) / 100 })),
    pad: '',
  };
  const base = JSON.stringify(obj);
  obj.pad = asciiEntry(i, rnd, 1024 - base.length).replace(/["\\]/g, '_');
  const s = JSON.stringify(obj);
  if (Buffer.byteLength(s) !== 1024) throw new Error(`json1k entry is ${Buffer.byteLength(s)} bytes`);
  return s;
}

/** The pool of one string shape (ascii, utf8, json1k). */
export function stringPool(shape: Exclude<Shape, 'binary'>): string[] {
  const rnd = prng(shape === 'ascii' ? 1 : shape === 'utf8' ? 2 : 4);
  const out: string[] = [];
  for (let i = 0; i < POOL; i++) {
    const s = shape === 'ascii' ? asciiEntry(i, rnd, 100) : shape === 'utf8' ? utf8Entry(i, rnd) : json1kEntry(i, rnd);
    // flatten now (a cons-string would be flattened on first use, inside the timed loop)
    out.push(Buffer.from(s, 'utf8').toString('utf8'));
  }
  return out;
}

/** The pool of binary entries. */
export function binaryPool(): Uint8Array[] {
  const rnd = prng(3);
  const out: Uint8Array[] = [];
  for (let i = 0; i < POOL; i++) {
    const b = new Uint8Array(100);
    for (let k = 0; k < 100; k++) b[k] = Math.floor(rnd() * 256);
    out.push(b);
  }
  return out;
}

/** Bytes of entry k of a pool (what lands on disk as its payload). */
export function poolBytes(shape: Shape): Uint8Array[] {
  return shape === 'binary' ? binaryPool() : stringPool(shape).map((s) => new Uint8Array(Buffer.from(s, 'utf8')));
}

/** The checksum of one entry: its CRC-32C. The checksum of a run is the sum of those mod 2^32. */
export function entryChecksum(u8: Uint8Array, start = 0, end = u8.length): number {
  return crc32cUpdate(0, u8, start, end);
}

export interface Expected {
  count: number;
  /** Sum of the entries' CRC-32C, mod 2^32. */
  checksum: number;
  /** Payload bytes of all entries. */
  payloadBytes: number;
}

/** What N entries of a shape, written as pool[i % POOL] for i in [0, N), must add up to. */
export function expectedFor(shape: Shape, n: number): Expected {
  const pool = poolBytes(shape);
  let checksum = 0;
  let payloadBytes = 0;
  const full = Math.floor(n / POOL);
  const rest = n % POOL;
  for (let k = 0; k < POOL; k++) {
    const times = full + (k < rest ? 1 : 0);
    if (times === 0) continue;
    const c = entryChecksum(pool[k]);
    // (c * times) mod 2^32 without losing precision
    checksum = (checksum + Number((BigInt(c) * BigInt(times)) % 4294967296n)) % 4294967296;
    payloadBytes += pool[k].length * times;
  }
  return { count: n, checksum, payloadBytes };
}
