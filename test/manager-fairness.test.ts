/**
 * Fairness on a shared writer thread: a hot log saturating its ring (a worker thread appending as
 * fast as it can) and a quiet log hosted on the same single pool thread. Each of the quiet log's
 * durable() calls resolves while the hot one keeps going; the hot log keeps making progress too.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { openLogManager } from '@shardlog/core';
import { fixture, readAll, tmpDir } from './helpers.js';

describe('log manager: fairness', () => {
  it("a quiet log's durable() resolves while a hot log on the same thread saturates", { timeout: 60_000 }, async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 1, sync: 'batch' });
    const hot = await m.log('hot', { ringBytes: 1024 * 1024 });
    const quiet = await m.log('quiet');
    expect(m.stats()).toMatchObject({ threads: 1, hostedWriters: 2 });
    const stop = new SharedArrayBuffer(4);
    const w = new Worker(fixture('hot-producer.mjs'), { workerData: { handle: hot.producerHandle(), stop } });
    const report = new Promise<{ appended: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    // wait until the hot log is saturated: its producer found the ring full
    while (hot.stats().ringFullWaits === 0) await new Promise((r) => setTimeout(r, 5));
    const hotBefore = hot.stats().entries;
    for (let i = 0; i < 30; i++) {
      const seq = quiet.append(`quiet ${i}`);
      await quiet.durable(seq);
    }
    const hotDuring = hot.stats().entries - hotBefore;
    expect(hot.stats().ringFullWaits).toBeGreaterThan(0);
    Atomics.store(new Int32Array(stop), 0, 1);
    const { appended } = await report;
    await w.terminate();
    expect(hotDuring).toBeGreaterThan(0); // the hot log was writing all along
    await m.close();
    expect(readAll(path.join(root, 'quiet')).map((e) => e.text)).toEqual(Array.from({ length: 30 }, (_, i) => `quiet ${i}`));
    expect(readAll(path.join(root, 'hot'))).toHaveLength(appended);
  });
});
