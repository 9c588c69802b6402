/**
 * Retention: log.truncateBefore(seq) removes only whole segments that hold nothing at or after seq
 * (segment i goes iff the next segment of its shard starts at or below seq), never a shard's last.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, LogClosedError, openLog, verifyLog } from '@shardlog/core';
import { logDir, readAll, records, segmentFiles } from './helpers.js';

const firstSeqOf = (f: string) => Number(path.basename(f, '.wal'));

describe('truncateBefore', () => {
  it('removes exactly the segments below seq, keeps every entry at or after it (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(fc.integer({ min: 0, max: 1300 }), { minLength: 2, maxLength: 4 }), async (shards, cuts) => {
        const dir = logDir();
        const log = await openLog({ dir, shards, segmentBytes: 4096 });
        for (let i = 0; i < 1200; i++) {
          log.append(`${i}:` + 'q'.repeat(i % 90));
          if (i % 40 === 39) await log.durable();
        }
        await log.durable();
        for (const seq of cuts) {
          const before = Array.from({ length: shards }, (_, s) => segmentFiles(dir, s));
          const entries = readAll(dir);
          const counts = new Map(before.flat().map((f) => [f, records(f).length]));
          const res = await log.truncateBefore(seq);
          const expectRemoved = before.flatMap((segs) => segs.filter((_, i) => i + 1 < segs.length && firstSeqOf(segs[i + 1]) <= seq));
          expect(res.removed.map((r) => r.file).sort()).toEqual(expectRemoved.sort());
          expect(res.bytes).toBe(res.removed.reduce((a, r) => a + r.bytes, 0));
          for (const r of res.removed) expect(fs.existsSync(r.file)).toBe(false);
          for (let s = 0; s < shards; s++) expect(segmentFiles(dir, s).at(-1)).toBe(before[s].at(-1)); // the segment being written stays
          const after = readAll(dir);
          // everything at or after seq is still there; what went was only below seq
          expect(after.filter((e) => e.seq >= seq)).toEqual(entries.filter((e) => e.seq >= seq));
          const gone = entries.filter((e) => !after.some((a) => a.seq === e.seq));
          expect(gone.every((e) => e.seq < seq)).toBe(true);
          expect(gone.length).toBe(res.removed.reduce((a, r) => a + counts.get(r.file)!, 0));
        }
        await log.close();
        expect((await verifyLog({ dir, threads: 0 })).ok).toBe(true);
        const again = await openLog({ dir });
        await again.close();
      }),
      { numRuns: 8 },
    );
  });

  it('runs beside appends, and the log reopens and verifies after it', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, segmentBytes: 4096 });
    let removed = 0;
    let cut = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 60; i++) log.append(`round ${round} entry ${i} ` + 'z'.repeat(40));
      if (round % 2 === 1) {
        cut = log.nextSeq - 100;
        removed += (await log.truncateBefore(cut)).removed.length;
      }
      await log.durable();
    }
    const next = log.nextSeq;
    await log.close();
    expect(removed).toBeGreaterThan(5);
    const left = readAll(dir);
    expect(left.at(-1)!.seq).toBe(next - 1);
    // nothing at or after the last cut was removed: from there on every seq is present, once and in
    // order (below it, each shard keeps what its first remaining segment holds, so gaps are allowed)
    const kept = left.filter((e) => e.seq >= cut).map((e) => e.seq);
    expect(kept).toEqual(Array.from({ length: next - cut }, (_, k) => cut + k));
    for (let k = 1; k < left.length; k++) expect(left[k].seq).toBeGreaterThan(left[k - 1].seq);
    expect((await verifyLog({ dir, threads: 0 })).ok).toBe(true);
    const again = await openLog({ dir });
    expect(again.nextSeq).toBe(next);
    await again.close();
  });

  it('never removes the last segment, even for a seq past the end', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, segmentBytes: 4096 });
    for (let i = 0; i < 500; i++) log.append('x'.repeat(50));
    await log.durable();
    const segs = segmentFiles(dir);
    const r = await log.truncateBefore(Number.MAX_SAFE_INTEGER);
    expect(r.removed.length).toBe(segs.length - 1);
    expect(segmentFiles(dir)).toEqual([segs.at(-1)]);
    expect((await log.truncateBefore(0)).removed).toEqual([]);
    await log.close();
  });

  it('rejects a bad seq, and a closed log', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    await expect(log.truncateBefore(-1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(log.truncateBefore(1.5)).rejects.toBeInstanceOf(InvalidArgumentError);
    await log.close();
    await expect(log.truncateBefore(10)).rejects.toBeInstanceOf(LogClosedError);
  });
});
