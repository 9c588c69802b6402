/**
 * The global sequence counter, shared by every producer of a log through the global
 * SharedArrayBuffer, 53 bits wide without BigInt (Atomics on BigInt64Array allocate a BigInt per
 * call: measured 784 scavenges per 20 M increments, against none for Int32).
 *
 * G_SEQ_LO holds the low 32 bits and is advanced with Atomics.add. G_SEQ_HALVES counts how many
 * multiples of 2^31 the counter has passed; the producer whose add moves the counter from below a multiple of 2^31 to at or above it bumps it. A
 * producer reads HALVES *before* its add, so its copy is never ahead and at most one behind (being two
 * behind needs 2^31 increments between two adjacent instructions). The top bit of the low word tells
 * which half the producer's value is in: if its parity differs from HALVES', HALVES was one behind.
 */
import { G_SEQ_HALVES, G_SEQ_LO, PLAIN_PRODUCER_READS } from '@shardlog/workers';

const TWO31 = 2147483648;
const TWO32 = 4294967296;

/** Take `n` consecutive sequence numbers; returns the first. */
export function takeSeq(g: Int32Array, n: number): number {
  // HALVES before the add: on x86 (PLAIN_PRODUCER_READS) a plain load cannot pass the locked add
  // after it, and V8 keeps it ahead of the atomic on the effect chain
  const h = PLAIN_PRODUCER_READS ? g[G_SEQ_HALVES] : Atomics.load(g, G_SEQ_HALVES);
  const lo = Atomics.add(g, G_SEQ_LO, n) >>> 0;
  const half = lo >>> 31;
  const halves = (h & 1) === half ? h : h + 1;
  // this add moved the counter past a multiple of 2^31 (m with lo < m <= lo + n): count it
  if ((((lo + n) / TWO31) | 0) !== half) Atomics.add(g, G_SEQ_HALVES, 1);
  // the top bit of lo already carries the half; the epoch is halves >> 1
  return Math.floor(halves / 2) * TWO32 + lo;
}

/** Set the counter so that the next takeSeq returns `next`. Only while no producer runs. */
export function initSeq(g: Int32Array, next: number): void {
  Atomics.store(g, G_SEQ_LO, next % TWO32 | 0);
  Atomics.store(g, G_SEQ_HALVES, Math.floor(next / TWO31));
}

/** The sequence number the next takeSeq would return (a snapshot). */
export function peekSeq(g: Int32Array): number {
  const h = Atomics.load(g, G_SEQ_HALVES);
  const lo = Atomics.load(g, G_SEQ_LO) >>> 0;
  const halves = (h & 1) === lo >>> 31 ? h : h + 1;
  return Math.floor(halves / 2) * TWO32 + lo;
}
