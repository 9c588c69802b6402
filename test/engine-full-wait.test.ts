/**
 * Engine: onFull { waitMs } bounds how long one append blocks on a full ring. A writer that makes no
 * progress (here a disk that takes 400 ms a batch) turns the wait into RingFullError after waitMs,
 * with nothing of that entry appended; the log stays usable and keeps every entry appended before,
 * and the same load with onFull 'wait' blocks instead and loses nothing. Bad values are refused.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, openLog, readLogSync, RingFullError } from '@shardlog/core';
import { fixture, logDir } from './helpers.js';

const entry = (i: number) => `entry ${i} `.padEnd(1000, 'x');

describe("onFull { waitMs }", () => {
  it('throws RingFullError after waitMs on a stalled writer, and the log keeps what it accepted', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, onFull: { waitMs: 50 }, testFaults: { batchDelayMs: 400 } });
    const accepted: number[] = [];
    let error: unknown;
    const t0 = Date.now();
    for (let i = 0; i < 10_000; i++) {
      try {
        accepted.push(log.append(entry(i)));
      } catch (e) {
        error = e;
        break;
      }
    }
    const waited = Date.now() - t0;
    expect(error).toBeInstanceOf(RingFullError);
    expect((error as RingFullError).code).toBe('ERR_SHARDLOG_RING_FULL');
    expect((error as Error).message).toMatch(/waitMs = 50 ms/);
    expect(waited).toBeGreaterThanOrEqual(50);
    expect(accepted.length).toBeGreaterThan(10); // the ring took some before it filled
    // the log is intact: it takes more once the writer catches up, and keeps everything it accepted
    await log.durable(accepted[accepted.length - 1]);
    accepted.push(log.append('after the refusal'));
    await log.close();
    const got = [...readLogSync({ dir })].map((e) => Buffer.from(e.data).toString());
    expect(got.length).toBe(accepted.length);
    expect(got[got.length - 1]).toBe('after the refusal');
    for (let i = 0; i < accepted.length - 1; i++) expect(got[i]).toBe(entry(i));
  });

  it('bounds a producer thread the same way (attachProducer: append and appendMany)', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, onFull: { waitMs: 50 }, testFaults: { batchDelayMs: 400 } });
    const w = new Worker(fixture('full-wait-thread.mjs'), { workerData: { handle: log.producerHandle(), size: 1000 } });
    const [msg] = (await once(w, 'message')) as [{ accepted: number; error: { name: string; code: string; message: string } | null }];
    await w.terminate();
    expect(msg.error?.code).toBe('ERR_SHARDLOG_RING_FULL');
    expect(msg.error?.message).toMatch(/waitMs = 50 ms/);
    expect(msg.accepted).toBeGreaterThan(10);
    await log.close();
    expect([...readLogSync({ dir })].length).toBe(msg.accepted);
  });

  it("with onFull 'wait' the same stalled writer blocks the append instead, and nothing is lost", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, onFull: 'wait', testFaults: { batchDelayMs: 100 } });
    const n = 200; // about three rings of entries: the producer must wait for room more than once
    for (let i = 0; i < n; i++) log.append(entry(i));
    expect(log.stats().shards[0].ringFullWaits).toBeGreaterThan(0);
    await log.close();
    expect([...readLogSync({ dir })].length).toBe(n);
  });

  it('refuses bad values with InvalidArgumentError', async () => {
    for (const onFull of [{ waitMs: 0 }, { waitMs: -5 }, { waitMs: 1.5 }, { waitMs: '10' }, { wait: 10 }, { waitMs: 10, extra: 1 }, null, 'block']) {
      const opened = await openLog({ dir: logDir(), onFull: onFull as never }).then(
        async (log) => (await log.close(), 'opened'),
        (e: unknown) => e,
      );
      expect(opened, JSON.stringify(onFull)).toBeInstanceOf(InvalidArgumentError);
    }
  });
});
