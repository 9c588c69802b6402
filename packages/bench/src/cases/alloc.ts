/**
 * Allocation and main-thread cost of appends at volume: N appends (10 M in --full) of 100-byte
 * entries into one shard (sync 'none'), counting GCs (PerformanceObserver 'gc') and the heap's
 * growth over the loop. Zero GCs and no growth mean the append path allocates nothing: a young
 * generation fills after a few MiB, so even one byte per append would show up as scavenges.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openLog } from '@shardlog/core';
import { binaryPool, POOL_MASK, stringPool } from '../entries.js';
import { cpuSource, forceGc, GcWatch, mark } from '../measure.js';
import type { AllocResult, AllocSpec } from '../types.js';

const WARMUP = 100_000;

export async function runAlloc(spec: AllocSpec): Promise<AllocResult> {
  fs.mkdirSync(spec.dir, { recursive: true });
  const log = await openLog({ dir: path.join(spec.dir, 'log'), shards: 1, sync: 'none' });
  const n = spec.n;
  const strings = stringPool('ascii');
  const bytes = binaryPool();
  // warm-up in the same log, so the measured appends run optimized code
  for (let i = 0; i < WARMUP; i++) log.append(spec.shape === 'binary' ? bytes[i & POOL_MASK] : strings[i & POOL_MASK]);
  const gcw = new GcWatch();
  forceGc();
  const m0 = mark();
  if (spec.shape === 'binary') for (let i = 0; i < n; i++) log.append(bytes[i & POOL_MASK]);
  else for (let i = 0; i < n; i++) log.append(strings[i & POOL_MASK]);
  const m1 = mark();
  const gcs = await gcw.count(m0.t, m1.t);
  gcw.stop();
  await log.close();
  const st = log.stats();
  return {
    kind: 'alloc',
    id: spec.id,
    label: spec.label,
    shape: spec.shape,
    n,
    gcs,
    heapGrowthBytes: m1.heap - m0.heap,
    bytesPerAppend: Math.max(0, m1.heap - m0.heap) / n,
    cpuNsPerAppend: (m1.cpu - m0.cpu) / n,
    cpuSource,
    appendsPerSec: n / ((m1.t - m0.t) / 1000),
    ringFullWaits: st.ringFullWaits,
    entriesWritten: st.entries - WARMUP,
  };
}
