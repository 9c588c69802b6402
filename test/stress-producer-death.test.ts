/**
 * A producer thread that dies in the middle of an append (worker.terminate(), a worker hitting its
 * resourceLimits) leaves one of two states, found with the stress runner (real terminate() calls at
 * random moments: 6 of 9 rounds left a claimed, never-published record; 1 in 10 left the reservation
 * lock held). Neither can be repaired in place (a dead claim's length is unknown), so the log must
 * fail loudly after stallTimeoutMs instead of stalling forever. These tests build both states
 * deterministically:
 *   1. ring space claimed (TAIL moved under the lock) but the record never published: the writer
 *      fails the shard (ESTALLED), durable() rejects;
 *   2. the shard's reservation lock held by a thread that no longer exists: the next append that
 *      needs it fails the log instead of spinning forever.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { openLog } from '@shardlog/core';
import { I_LOCK, I_TAIL } from '@shardlog/workers';
import { fixture, logDir } from './helpers.js';

const WAIT_MS = 10_000; // far above stallTimeoutMs (300): what it takes when it fails, never when it passes
const timeout = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms));

describe('a producer that dies mid-append fails the log loudly (stallTimeoutMs)', () => {
  it('a claimed but never published record fails the log loudly instead of stalling the shard', async () => {
    const log = await openLog({ dir: logDir(), shards: 1, stallTimeoutMs: 300 });
    try {
      const handle = log.producerHandle(); // shared mode: claims go through the lock, as with threads
      const i32 = new Int32Array(handle.rings[0]);
      // what a producer thread leaves when it dies between its claim and its publish
      expect(Atomics.compareExchange(i32, I_LOCK, 0, 1)).toBe(0);
      i32[I_TAIL] = (i32[I_TAIL] + 64) | 0;
      Atomics.store(i32, I_LOCK, 0);
      const seq = log.append('written after the dead claim');
      const outcome = await Promise.race([log.durable(seq).then(() => 'durable', (e: { code?: string }) => e.code), timeout(WAIT_MS)]);
      expect(outcome).toBe('ERR_SHARDLOG_SHARD_FAILED');
    } finally {
      await log.close().catch(() => {});
    }
  });

  it('a reservation lock left held by a dead thread fails appends loudly instead of spinning forever', async () => {
    const log = await openLog({ dir: logDir(), shards: 1, stallTimeoutMs: 300 });
    const handle = log.producerHandle();
    Atomics.store(new Int32Array(handle.rings[0]), I_LOCK, 1); // held by a thread that no longer exists
    // append in a thread of its own: on this one it would block the test forever
    const w = new Worker(fixture('stress-append-once.mjs'), { workerData: { handle } });
    try {
      const outcome = await Promise.race([new Promise<{ ok: boolean; code?: string }>((r) => w.once('message', r)), timeout(WAIT_MS)]);
      expect(outcome).toMatchObject({ ok: false, code: 'ERR_SHARDLOG_SHARD_FAILED' });
    } finally {
      await w.terminate();
      await log.close().catch(() => {});
    }
  });
});
