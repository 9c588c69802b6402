/**
 * Engine: the writer's sync trace (TestFaults.syncTrace, the durable-ack latency breakdown) records
 * every batch, fdatasync and durable publication, and shows the durability rule held: nothing was
 * published durable before an fdatasync that covers it had completed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog } from '@shardlog/core';
import { readSyncTrace, type SyncTraceRows } from '@shardlog/workers';
import { logDir, tmpDir } from './helpers.js';

type Trace = SyncTraceRows;


describe('sync trace', () => {
  it('records writes, syncs and publications; each publication follows a sync that covers it', async () => {
    const dir = logDir();
    const file = path.join(tmpDir(), 'trace.txt');
    const log = await openLog({ dir, shards: 1, sync: 'batch', testFaults: { syncTrace: file } });
    let last = -1;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 5; i++) last = log.append(`entry ${round}.${i}`);
      await log.durable(last);
    }
    await log.close();
    const t = readSyncTrace(file);
    expect(t.writes.length).toBeGreaterThan(0);
    expect(Math.max(...t.writes.map((w) => w.maxSeq))).toBe(last);
    expect(t.syncs.length).toBeGreaterThanOrEqual(1);
    for (const s of t.syncs) {
      expect(['inline', 'background']).toContain(s.kind);
      expect(s.end).toBeGreaterThanOrEqual(s.start);
      // an inline sync carries how long of it the writer waited for a CPU (Linux: schedstat)
      if (s.kind === 'inline' && process.platform === 'linux') {
        expect(s.waitMs).toBeGreaterThanOrEqual(0);
        expect(s.waitMs).toBeLessThanOrEqual(s.end - s.start + 1);
      }
    }
    // between batches the writer slept (idle rows), never longer than its own timeout
    expect(t.idles.length).toBeGreaterThan(0);
    for (const i of t.idles) expect(i.end - i.start).toBeLessThan(i.timeoutMs + 1000);
    expect(t.published.length).toBeGreaterThan(0);
    expect(t.published[t.published.length - 1].seq).toBe(last);
    for (const p of t.published) {
      const covering = t.syncs.filter((s) => s.seq >= p.seq && s.end <= p.at);
      expect(covering.length, `published seq ${p.seq} at ${p.at} with no completed sync covering it`).toBeGreaterThan(0);
    }
  });

  it('syncs a small batch inline in the writer thread, even with more waiting in the ring', async () => {
    const dir = logDir();
    const file = path.join(tmpDir(), 'trace.txt');
    // the writer sleeps after each batch: the next entries are in the ring when it syncs
    const log = await openLog({ dir, shards: 1, sync: 'batch', testFaults: { syncTrace: file, batchDelayMs: 5 } });
    // Append one entry a millisecond until acks have come back at three separate moments (at least
    // 40 entries): a writer thread starved of CPU on a loaded machine may take the first 40 in one
    // or two batches, and the test is about several syncs, not about how fast they come.
    const acks: Promise<void>[] = [];
    let ackedSinceLook = false;
    let ackMoments = 0;
    for (let i = 0; i < 40 || (ackMoments < 3 && i < 5000); i++) {
      const ack = log.durable(log.append(`entry ${i}`));
      void ack.then(() => { ackedSinceLook = true; });
      acks.push(ack);
      await new Promise((r) => setTimeout(r, 1));
      if (ackedSinceLook) { ackMoments++; ackedSinceLook = false; }
    }
    await Promise.all(acks);
    await log.close();
    const t = readSyncTrace(file);
    expect(t.writes.length).toBeGreaterThan(2);
    expect(t.syncs.length).toBeGreaterThan(2);
    expect(t.syncs.filter((s) => s.kind === 'background')).toEqual([]);
  });

  it('syncs large batches in the background while the next is written (pipelined)', async () => {
    const dir = logDir();
    const file = path.join(tmpDir(), 'trace.txt');
    const log = await openLog({ dir, shards: 1, sync: 'batch', ringBytes: 8 << 20, testFaults: { syncTrace: file, batchDelayMs: 5 } });
    const big = 'x'.repeat(100_000);
    let last = -1;
    for (let i = 0; i < 60; i++) last = log.append(big);
    await log.durable(last);
    await log.close();
    const t = readSyncTrace(file);
    expect(t.syncs.some((s) => s.kind === 'background')).toBe(true);
  });
});
