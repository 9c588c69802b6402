/**
 * Seeded randomness for the stress runner, so that a failing run can be replayed with --seed.
 *
 * Two kinds: Rng, a small sequential generator (mulberry32) for run-level choices (kill moment, tear
 * offsets, which API a burst uses); and entryKeys, a stateless hash of (seed, producer, index) that
 * fixes everything about one entry (size, payload). Because an entry is a pure function of those three
 * numbers, the verifier regenerates it instead of keeping a copy of what was written.
 */

/** A 32-bit finalizer (murmur3 fmix32): a bijection that scrambles every input bit into the output. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The 32 bits of a seed (any safe integer) that feed the generators. */
export function seed32(seed: number): number {
  return mix32((seed >>> 0) ^ mix32(Math.floor(seed / 4294967296) + 0x9e3779b9));
}

/** mulberry32: a fast, small, well-distributed sequential generator. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed32(seed);
  }
  /** Next uint32. */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A float in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }
  /** An integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  fill(b: Uint8Array): void {
    let i = 0;
    for (; i + 4 <= b.length; i += 4) {
      const v = this.next();
      b[i] = v;
      b[i + 1] = v >>> 8;
      b[i + 2] = v >>> 16;
      b[i + 3] = v >>> 24;
    }
    for (; i < b.length; i++) b[i] = this.next();
  }
}

/** Two independent uint32 keys for entry `index` of `producer` under a run's seed32; written into out[0], out[1]. */
export function entryKeys(s32: number, producer: number, index: number, out: Uint32Array): void {
  const lo = index >>> 0;
  const hi = Math.floor(index / 4294967296);
  let h = mix32(s32 ^ Math.imul(producer + 1, 0x9e3779b1));
  h = mix32(h ^ lo);
  h = mix32(h ^ Math.imul(hi + 1, 0x85ebca77));
  out[0] = h;
  out[1] = mix32(h + 0x6d2b79f5);
}
