/**
 * Durable-ack latency under a steady offered load (one child process per run).
 *
 * A loop appends every entry whose scheduled time (t0 + i / rate) has come, asks for one ack for
 * that small group, lets the event loop run (acks arrive there), and sleeps (Atomics.wait, at most
 * 100 µs) until the next entry is due. It does not spin: on a 2-core machine a spinning load
 * generator takes the CPU the writer thread and the kernel's journal need, and measures itself.
 * An entry's latency runs from its SCHEDULED time to the moment its group is known durable, so a
 * system that falls behind is charged for the backlog (no coordinated omission). A warm-up at the
 * same load runs first on the same log or stream and is not recorded: what is measured is the
 * steady state a long-running service sees, not the first second of a process (JIT tiering of the
 * writer thread's and the main thread's code, the first segment's allocation), which showed as
 * main-thread stalls of 1-5 ms in the first ~0.7 s of a traced run on an idle machine.
 *   shardlog    sync 'batch' (group commit), one shard; `log.durable(lastSeqOfGroup).then(ack)`
 *   shardlog-sync  the same log; the main thread blocks in `log.durableSync()` per group
 *   sonic-boom  sync: true; the group is written with one write() and made durable with flushSync()
 *               (which fsyncs): the best a sonic-boom user can do, and it blocks the main thread
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { openLog } from '@shardlog/core';
import { SonicBoom } from '../peers.js';
import { runQueueWaitMs } from '../cpu.js';
import { expectedFor, POOL_MASK, stringPool } from '../entries.js';
import type { DurableResult, DurableSpec } from '../types.js';
import { verifyLines, verifyShardlog, type Verification } from '../verify.js';

function pct(h: RecordableHistogram, p: number): number {
  return h.percentile(p) / 1000;
}

function result(spec: DurableSpec, total: number, t0: number, lastAck: number, h: RecordableHistogram, fsyncs: number, runqWaitMs: number, verification: Verification): DurableResult {
  return {
    kind: 'durable',
    id: spec.id,
    label: spec.label,
    system: spec.system,
    offeredPerSec: spec.rate,
    achievedPerSec: total / ((lastAck - t0) / 1000),
    entries: total,
    p50Us: pct(h, 50),
    p99Us: pct(h, 99),
    p999Us: pct(h, 99.9),
    maxUs: h.max / 1000,
    fsyncs,
    runqWaitMs,
    verification,
  };
}

const SLEEP = new Int32Array(new SharedArrayBuffer(4));
/** Longest nap between two looks at the clock, ms. */
const SLICE_MS = 0.1;

/**
 * Calls group(first, last) for each group of entries that came due, until `total` were offered;
 * then resolves once `settled` does (every ack came back).
 */
export function drive(rate: number, total: number, t0: number, group: (first: number, last: number) => void, settled: Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let sent = 0;
    const tick = (): void => {
      try {
        const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000));
        if (due > sent) {
          group(sent, due);
          sent = due;
        }
        if (sent < total) {
          const wait = t0 + ((sent + 1) * 1000) / rate - performance.now();
          if (wait > 0) Atomics.wait(SLEEP, 0, 0, Math.min(SLICE_MS, wait));
          setImmediate(tick);
        } else settled.then(resolve, reject);
      } catch (e) {
        reject(e);
      }
    };
    setImmediate(tick);
  });
}

/** Record the latency of entries [first, last) acked at `ack` (all times in ms). */
function recordGroup(h: RecordableHistogram, t0: number, rate: number, first: number, last: number, ack: number): void {
  const step = 1000 / rate;
  for (let i = first; i < last; i++) {
    const ns = Math.round((ack - (t0 + i * step)) * 1e6);
    h.record(ns > 0 ? ns : 1);
  }
}

/** A phase of `count` entries from pool index `offset`, latencies recorded into h if given. */
type Phase = (count: number, offset: number, h?: RecordableHistogram) => Promise<{ t0: number; lastAck: number }>;

/** The warm-up phase (not recorded), then the measured one, with the run-queue wait over the latter. */
async function warmThenMeasure(spec: DurableSpec, phase: Phase): Promise<{ warm: number; total: number; t0: number; lastAck: number; h: RecordableHistogram; runq: number }> {
  const warm = Math.round(spec.rate * spec.warmupSeconds);
  const total = Math.max(1, Math.round(spec.rate * spec.seconds));
  if (warm > 0) await phase(warm, 0);
  const h = createHistogram();
  const q0 = runQueueWaitMs();
  const { t0, lastAck } = await phase(total, warm, h);
  return { warm, total, t0, lastAck, h, runq: runQueueWaitMs() - q0 };
}

/**
 * A phase for a blocking ack: ackGroup(first, last, offset) returns once the group is durable, and
 * its latency is taken right after.
 */
function blockingPhase(spec: DurableSpec, ackGroup: (first: number, last: number, offset: number) => void): Phase {
  return async (count, offset, h) => {
    let lastAck = 0;
    const t0 = performance.now();
    await drive(
      spec.rate,
      count,
      t0,
      (first, last) => {
        ackGroup(first, last, offset);
        const ack = performance.now();
        if (h) recordGroup(h, t0, spec.rate, first, last, ack);
        lastAck = ack;
      },
      Promise.resolve(),
    );
    return { t0, lastAck };
  };
}

/** shardlog, sync 'batch': `log.durable(seq).then(ack)` per group, or (blocking) `log.durableSync()` per group. */
async function shardlogDurable(spec: DurableSpec, blocking: boolean): Promise<DurableResult> {
  const dir = path.join(spec.dir, 'log');
  const log = await openLog({ dir, shards: 1, sync: 'batch' });
  const pool = stringPool('ascii');
  const promised: Phase = async (count, offset, h) => {
    let acked = 0;
    let lastAck = 0;
    let allAcked!: () => void;
    let failed!: (e: Error) => void;
    const settled = new Promise<void>((res, rej) => {
      allAcked = res;
      failed = rej;
    });
    const t0 = performance.now();
    await drive(
      spec.rate,
      count,
      t0,
      (first, last) => {
        let seq = 0;
        for (let i = first; i < last; i++) seq = log.append(pool[(offset + i) & POOL_MASK]);
        log.durable(seq).then(() => {
          const ack = performance.now();
          if (h) recordGroup(h, t0, spec.rate, first, last, ack);
          acked += last - first;
          lastAck = ack;
          if (acked === count) allAcked();
        }, failed);
      },
      settled,
    );
    return { t0, lastAck };
  };
  // blocking, as sonic-boom's flushSync does: the main thread sleeps in Atomics.wait until the writer published
  const blocked = blockingPhase(spec, (first, last, offset) => {
    for (let i = first; i < last; i++) log.append(pool[(offset + i) & POOL_MASK]);
    if (!log.durableSync(10_000)) throw new Error('durableSync timed out');
  });
  const phase = blocking ? blocked : promised;
  let fsyncs0 = 0;
  const m = await warmThenMeasure(spec, async (count, offset, h) => {
    if (h) fsyncs0 = log.stats().fsyncs;
    return phase(count, offset, h);
  });
  const fsyncs = log.stats().fsyncs - fsyncs0;
  await log.close();
  return result(spec, m.total, m.t0, m.lastAck, m.h, fsyncs, m.runq, verifyShardlog(dir, expectedFor('ascii', m.warm + m.total)));
}

async function sonicDurable(spec: DurableSpec): Promise<DurableResult> {
  const file = path.join(spec.dir, 'out.log');
  const s = new SonicBoom({ dest: file, sync: true });
  await once(s, 'ready');
  const lines = stringPool('ascii').map((x) => x + '\n');
  let fsyncs = 0;
  let fsyncs0 = 0;
  const phase = blockingPhase(spec, (first, last, offset) => {
    let chunk = '';
    for (let i = first; i < last; i++) chunk += lines[(offset + i) & POOL_MASK];
    s.write(chunk);
    s.flushSync(); // writes what is buffered and fsyncs
    fsyncs++;
  });
  const m = await warmThenMeasure(spec, async (count, offset, h) => {
    if (h) fsyncs0 = fsyncs;
    return phase(count, offset, h);
  });
  s.end();
  await once(s, 'close');
  return result(spec, m.total, m.t0, m.lastAck, m.h, fsyncs - fsyncs0, m.runq, verifyLines([file], expectedFor('ascii', m.warm + m.total)));
}

export async function runDurable(spec: DurableSpec): Promise<DurableResult> {
  fs.mkdirSync(spec.dir, { recursive: true });
  if (spec.system === 'sonic-boom') return sonicDurable(spec);
  return shardlogDurable(spec, spec.system === 'shardlog-sync');
}
