/** Engine: many producer threads share the rings; durability ordering; group commit. */
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { openLog, readLogSync } from '@shardlog/core';
import { fixture, logDir, segmentFiles } from './helpers.js';

const PRODUCER = fixture('producer-thread.mjs');

describe('multi-producer', () => {
  it('the main thread and two worker threads append into the same rings: every entry exactly once, per-producer order kept', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, ringBytes: 256 * 1024, sync: 'batch' });
    const count = 20_000;
    const workers = [1, 2].map(
      (id) => new Worker(PRODUCER, { workerData: { handle: log.producerHandle(), id, count } }),
    );
    const done = workers.map((w) => new Promise((res, rej) => (w.once('message', res), w.once('error', rej))));
    for (let i = 0; i < count; i++) log.append(`0:${i}`);
    await Promise.all(done);
    await log.durable();
    await log.close();
    await Promise.all(workers.map((w) => w.terminate()));

    const seen = new Map<number, number[]>();
    let prevSeq = 0;
    for (const e of readLogSync({ dir })) {
      expect(e.seq).toBeGreaterThan(prevSeq); // one total order, no duplicates
      prevSeq = e.seq;
      const [id, i] = Buffer.from(e.data).toString().split(':').map(Number);
      if (!seen.has(id)) seen.set(id, []);
      seen.get(id)!.push(i);
    }
    for (const id of [0, 1, 2]) {
      const got = seen.get(id)!;
      expect(got.length).toBe(count);
      expect(got).toEqual(Array.from({ length: count }, (_, i) => i)); // in order, each once
    }
  });

  it('sequence numbers are unique and dense across producers', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 3, ringBytes: 128 * 1024 });
    const w = new Worker(PRODUCER, { workerData: { handle: log.producerHandle(), id: 1, count: 5000 } });
    const done = new Promise((r) => w.once('message', r));
    for (let i = 0; i < 5000; i++) log.append(`0:${i}`);
    await done;
    await log.close();
    await w.terminate();
    const seqs = [...readLogSync({ dir })].map((e) => e.seq);
    expect(seqs.length).toBe(10_000);
    expect(seqs).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
  });
});

describe('durability', () => {
  it('a worker thread whose only pending work is durable() stays alive until it resolves', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: { everyMs: 300 } });
    const w = new Worker(fixture('durable-only-thread.mjs'), { workerData: { handle: log.producerHandle() } });
    const outcome = await new Promise((res) => {
      w.once('message', (m) => res(m));
      w.once('exit', (code) => res({ exited: code }));
    });
    expect(outcome).toEqual({ durable: 1 });
    await log.close();
    expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['from a thread']);
  });

  it('durable(seq) resolves only once the entry is in the file', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'batch' });
    for (let round = 0; round < 50; round++) {
      const marker = `marker-${round}-${'z'.repeat(round)}`;
      const seq = log.append(marker);
      await log.durable(seq);
      const bytes = segmentFiles(dir, 0).map((f) => fs.readFileSync(f).toString('latin1')).join('');
      expect(bytes.includes(marker)).toBe(true);
    }
    await log.close();
  });

  it('many waiters share one fsync (group commit)', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'batch' });
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 5000; i++) waits.push(log.durable(log.append(`e${i}`)));
    await Promise.all(waits);
    const st = log.stats();
    expect(st.entries).toBe(5000);
    expect(st.fsyncs).toBeLessThan(5000 / 10);
    await log.close();
  });

  it("with sync: 'none', durable() makes the writer sync on demand", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, sync: 'none' });
    for (let i = 0; i < 100; i++) log.append(`e${i}`);
    const before = log.stats().fsyncs;
    await log.durable();
    expect(log.stats().fsyncs).toBeGreaterThan(before);
    expect(log.stats().durableLagBytes).toBe(0);
    await log.close();
  });

  it('{ everyMs } and { everyBytes } policies make entries durable', async () => {
    for (const sync of [{ everyMs: 5 }, { everyBytes: 1000 }] as const) {
      const dir = logDir();
      const log = await openLog({ dir, shards: 1, sync });
      const seqs = Array.from({ length: 300 }, (_, i) => log.append(`entry ${i}`));
      await log.durable(seqs.at(-1));
      const st = log.stats();
      expect(st.entries).toBe(300);
      expect(st.fsyncs).toBeGreaterThan(0);
      await log.close();
      expect([...readLogSync({ dir })].length).toBe(300);
    }
  });

  it('close() loses nothing appended before it, without any durable() call', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 4, sync: 'none' });
    const n = 50_000;
    for (let i = 0; i < n; i++) log.append(`entry ${i}`);
    await log.close();
    const got = [...readLogSync({ dir })];
    expect(got.length).toBe(n);
    expect(got[n - 1].text()).toBe(`entry ${n - 1}`);
  });

  it('stats(): fileBytes is the segment header, the records and a frame header per batch, across many ring wraps', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'none', ringBytes: 64 * 1024, segmentBytes: 1 << 30 });
    const sizes = [10, 100, 700, 3000, 40];
    let records = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = sizes[i % sizes.length];
      log.append('x'.repeat(n));
      records += Math.ceil((16 + n) / 8) * 8;
      if (i % 97 === 0) await new Promise((r) => setImmediate(r)); // let the writer take part-rounds too
    }
    await log.durable();
    const st = log.stats();
    expect(st.fileBytes).toBeGreaterThan(100 * 64 * 1024); // through the 64 KiB ring a hundred times and more
    expect(st.fileBytes).toBe(80 + records + st.batches * 32); // one segment header, the records, a frame header per batch
    await log.close();
  });

  it('stats() counts entries, bytes, batches, writev calls, fsyncs and lag per shard', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, sync: 'batch' });
    for (let i = 0; i < 1000; i++) log.append('0123456789');
    await log.durable();
    const st = log.stats();
    expect(st.state).toBe('running');
    expect(st.shards).toHaveLength(2);
    expect(st.entries).toBe(1000);
    expect(st.payloadBytes).toBe(10_000);
    expect(st.fileBytes).toBe(1000 * 32 + 2 * 80 + st.batches * 32); // 16-byte header + 10 bytes, padded to 32; an 80-byte header per segment, a 32-byte frame header per batch
    expect(st.batches).toBeGreaterThan(0);
    expect(st.writevCalls).toBeGreaterThanOrEqual(st.batches);
    expect(st.fsyncs).toBeGreaterThan(0);
    expect(st.meanBatchEntries).toBeCloseTo(st.entries / st.batches);
    expect(st.durableLagBytes).toBe(0);
    expect(st.pendingBytes).toBe(0);
    expect(st.nextSeq).toBe(1001);
    // the totals the README lists: segments summed, lastSeq the highest of any shard
    expect(st.segments).toBe(2);
    expect(st.lastSeq).toBe(1000);
    expect(st.shards.map((s) => s.lastSeq).sort((a, b) => a - b)).toEqual([999, 1000]);
    for (const s of st.shards) expect(s.entries).toBe(500);
    await log.close();
    expect(log.stats().state).toBe('closed');
  });
});
