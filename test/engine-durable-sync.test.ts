/**
 * Engine: durableSync(timeoutMs), the blocking wait (exit and signal handlers, pino's flushSync, a
 * thread that waits like sonic-boom's flushSync). Under sync 'none' it must ask the writers for a
 * sync, so it returns true only once every shard it touched is fdatasynced; it returns false when
 * the time runs out first, throws ShardFailedError when a sync failed, works from a worker thread's
 * producer, and refuses a timeout that is not a number of ms (a NaN would have waited forever).
 * It forces the sync whatever the policy: under { everyMs: 60000 } (which rate-limits durable()) it
 * still returns at once, and so does the exit flush built on it.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, openLog, readLogSync, ShardFailedError } from '@shardlog/core';
import { fixture, logDir } from './helpers.js';

describe('durableSync()', () => {
  it("under sync 'none', asks every touched shard for a sync and returns once nothing is left unsynced", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, sync: 'none' });
    let last = 0;
    for (let i = 0; i < 1000; i++) last = log.append(`entry ${i}`);
    const before = log.stats();
    expect(log.durableSync(10_000)).toBe(true);
    const after = log.stats();
    for (let s = 0; s < 2; s++) {
      expect(after.shards[s].fsyncs).toBeGreaterThan(before.shards[s].fsyncs);
      expect(after.shards[s].durableLagBytes).toBe(0);
      expect(after.shards[s].pendingBytes).toBe(0);
    }
    await log.durable(last); // already true: resolves at once
    await log.close();
    expect([...readLogSync({ dir })].length).toBe(1000);
  });

  it('forces the sync under { everyMs }, which holds durable() to its timer', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, sync: { everyMs: 60_000 } });
    for (let i = 0; i < 100; i++) log.append(`entry ${i}`);
    const t0 = Date.now();
    expect(log.durableSync(5_000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5_000);
    const st = log.stats();
    expect(st.fsyncs).toBeGreaterThanOrEqual(2);
    expect(st.durableLagBytes).toBe(0);
    await log.close();
  });

  it("the exit flush of a log under { everyMs: 60000 } syncs everything (it would have waited out its 10 s)", () => {
    const dir = logDir();
    const r = spawnSync(process.execPath, [fixture('exit-everyms.mjs'), dir], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).not.toMatch(/not flushed/);
    expect(r.status).toBe(0);
    const st = JSON.parse(r.stdout.trim()) as { fsyncs: number; durableLagBytes: number; entries: number };
    expect(st.entries).toBe(1000);
    expect(st.durableLagBytes).toBe(0);
    expect(st.fsyncs).toBeGreaterThanOrEqual(2);
    expect([...readLogSync({ dir })].length).toBe(1000);
  });

  it('returns false when the writer cannot make it in time, true once it has', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'batch', testFaults: { batchDelayMs: 400 } });
    log.append('slow');
    const t0 = Date.now();
    expect(log.durableSync(50)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
    expect(log.durableSync(0)).toBe(false); // no time at all: one look
    expect(log.durableSync(Infinity)).toBe(true);
    await log.close();
    expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['slow']);
  });

  it('throws ShardFailedError when the fdatasync failed', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'batch', testFaults: { syncFailAt: 1, code: 'EIO' } });
    log.append('doomed');
    let err: unknown;
    try {
      log.durableSync(10_000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ShardFailedError);
    await expect(log.close()).rejects.toThrow(ShardFailedError);
  });

  it('refuses a timeout that is not a number of ms >= 0, and the log goes on', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    log.append('a');
    for (const bad of [Number.NaN, -1, '100', null, {}]) {
      expect(() => log.durableSync(bad as number)).toThrow(InvalidArgumentError);
    }
    expect(() => log.durableSync(Number.NaN)).toThrow(/timeoutMs.*got NaN/);
    log.append('b');
    expect(log.durableSync()).toBe(true);
    await log.close();
    expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['a', 'b']);
  });

  it("works from a worker thread's producer, blocking that thread only", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, sync: 'none' });
    const w = new Worker(fixture('durable-sync-thread.mjs'), { workerData: { handle: log.producerHandle(), n: 500 } });
    const [msg] = (await once(w, 'message')) as [{ ok: boolean; last: number }];
    expect(msg.ok).toBe(true);
    const st = log.stats();
    expect(st.durableLagBytes).toBe(0);
    expect(st.entries).toBe(500);
    await once(w, 'exit');
    await log.close();
    expect([...readLogSync({ dir })].length).toBe(500);
  });
});
