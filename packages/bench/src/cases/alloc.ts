/**
 * Allocation and main-thread cost of appends at volume: N appends (10 M in --full) of 100-byte
 * entries into one shard (sync 'none'), after two warm-up calls of the same loop, counting GCs (PerformanceObserver 'gc') and the heap's
 * growth over the loop. Zero GCs and no growth mean the append path allocates nothing: a young
 * generation fills after a few MiB, so even one byte per append would show up as scavenges.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openLog, type Log } from '@shardlog/core';
import { binaryPool, POOL_MASK, stringPool } from '../entries.js';
import { cpuSource, forceGc, GcWatch, mark } from '../measure.js';
import type { AllocResult, AllocSpec } from '../types.js';

/** Appends of each of the two warm-up calls. */
const WARMUP = 100_000;

// The measured call runs the same functions the warm-up called, so it starts in optimized code:
// a loop first optimized during the measurement would put its compiled code on the heap.
function appendStrings(log: Log, pool: string[], n: number): void {
  for (let i = 0; i < n; i++) log.append(pool[i & POOL_MASK]);
}
function appendBinary(log: Log, pool: Uint8Array[], n: number): void {
  for (let i = 0; i < n; i++) log.append(pool[i & POOL_MASK]);
}

export async function runAlloc(spec: AllocSpec): Promise<AllocResult> {
  fs.mkdirSync(spec.dir, { recursive: true });
  const log = await openLog({ dir: path.join(spec.dir, 'log'), shards: 1, sync: 'none' });
  const n = spec.n;
  const strings = stringPool('ascii');
  const bytes = binaryPool();
  const run = (k: number) => (spec.shape === 'binary' ? appendBinary(log, bytes, k) : appendStrings(log, strings, k));
  run(WARMUP);
  run(WARMUP);
  const gcw = new GcWatch();
  forceGc();
  // let the collector's concurrent sweeping and the compiler's background jobs settle first
  await new Promise((r) => setTimeout(r, 100));
  forceGc();
  const m0 = mark();
  run(n);
  const m1 = mark();
  const kinds = await gcw.list(m0.t, m1.t);
  gcw.stop();
  await log.close();
  const st = log.stats();
  return {
    kind: 'alloc',
    id: spec.id,
    label: spec.label,
    shape: spec.shape,
    n,
    gcs: kinds.length,
    gcKinds: kinds.join(','),
    heapGrowthBytes: m1.heap - m0.heap,
    bytesPerAppend: Math.max(0, m1.heap - m0.heap) / n,
    cpuNsPerAppend: (m1.cpu - m0.cpu) / n,
    cpuSource,
    appendsPerSec: n / ((m1.t - m0.t) / 1000),
    ringFullWaits: st.ringFullWaits,
    entriesWritten: st.entries - 2 * WARMUP,
  };
}
