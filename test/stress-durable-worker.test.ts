/**
 * Engine regression found by the stress runner: a worker-thread producer that awaits durable() with
 * nothing else on its event loop must wait for it, not exit. Atomics.waitAsync holds no reference on
 * Node's event loop, so before the fix the thread ended with exit code 13 (unsettled top-level await)
 * and the durable() promise never settled.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { openLog, readLogSync } from '@shardlog/core';
import { fixture, logDir } from './helpers.js';

describe('durable() in a producer thread', () => {
  it('keeps the thread alive until the entries are durable', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    const worker = new Worker(fixture('stress-durable-worker.mjs'), {
      workerData: { handle: log.producerHandle(), entries: 1000 },
    });
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    const code = await new Promise<number>((resolve) => worker.once('exit', resolve));
    await log.close();
    expect(code).toBe(0);
    expect(messages).toHaveLength(1);
    const texts = [...readLogSync({ dir })].map((e) => e.text());
    expect(texts).toEqual(Array.from({ length: 1000 }, (_, i) => `worker entry ${i}`));
  });
});
