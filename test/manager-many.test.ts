/**
 * 1,000 named logs in one process on a pool of 3 writer threads, written from the main thread and
 * from two worker threads (through each log's producerHandle). The process gains the pool's threads,
 * not a thread per log; every entry of every log is on disk after close, in each log's own directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { openLogManager, type Log } from '@shardlog/core';
import { fixture, readAll, tmpDir } from './helpers.js';

const LOGS = 1000;
const PER_THREAD = 4;
const PRODUCERS = 2;

function threads(): number {
  return fs.readdirSync('/proc/self/task').length;
}

describe('log manager: many logs', () => {
  it(`writes ${LOGS} logs from ${PRODUCERS + 1} threads through a 3-thread pool`, { timeout: 60_000 }, async () => {
    const root = tmpDir();
    const before = threads();
    const m = await openLogManager({ root, writers: 3, ringBytes: 64 * 1024, maxOpenLogs: LOGS });
    const names = Array.from({ length: LOGS }, (_, i) => `tenant-${i}`);
    const logs: Log[] = [];
    for (let i = 0; i < LOGS; i += 50) logs.push(...(await Promise.all(names.slice(i, i + 50).map((n) => m.log(n)))));
    expect(m.stats()).toMatchObject({ openLogs: LOGS, threads: 3, hostedWriters: LOGS, logsCreated: LOGS });
    // the pool's 3 threads, and at most libuv's 4 pool threads for the background syncs: never one per log
    expect(threads() - before).toBeLessThanOrEqual(3 + 4);

    const handles = logs.map((l, i) => ({ name: names[i], handle: l.producerHandle() }));
    const workers = Array.from({ length: PRODUCERS }, (_, id) => new Worker(fixture('manager-producer.mjs'), { workerData: { logs: handles, id: id + 1, count: PER_THREAD } }));
    const done = workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    }));
    for (let i = 0; i < PER_THREAD; i++) for (const [k, l] of logs.entries()) l.append(`${names[k]}:0:${i}`);
    await Promise.all(logs.map((l) => l.durable()));
    await Promise.all(done);
    await Promise.all(workers.map((w) => w.terminate()));
    const st = m.stats();
    expect(st.entries).toBe(LOGS * PER_THREAD * (PRODUCERS + 1));
    expect(st.threads).toBe(3);
    await m.close();
    expect(m.stats()).toMatchObject({ openLogs: 0, hostedWriters: 0, entries: LOGS * PER_THREAD * (PRODUCERS + 1) });

    expect(m.list()).toHaveLength(LOGS);
    for (const [k, name] of names.entries()) {
      if (k % 7 !== 0 && k !== LOGS - 1) continue; // a sample: each read opens a log directory
      const texts = readAll(path.join(root, name)).map((e) => e.text);
      expect(texts).toHaveLength(PER_THREAD * (PRODUCERS + 1));
      for (let id = 0; id <= PRODUCERS; id++) {
        expect(texts.filter((t) => t.startsWith(`${name}:${id}:`))).toEqual(Array.from({ length: PER_THREAD }, (_, i) => `${name}:${id}:${i}`));
      }
    }
  });
});
