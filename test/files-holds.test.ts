/**
 * Retention holds (<dir>/holds/*.json): truncateBefore never removes a segment holding a seq above
 * the lowest hold of its shard; holds are written atomically and read on every call; a broken hold
 * stops retention instead of being ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdFile, openLog, readHolds, readLog, removeHold, writeHold } from '@shardlog/core';
import { logDir, segmentFiles } from './helpers.js';

async function seqs(dir: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of readLog({ dir })) out.push(e.seq);
  return out;
}

describe('retention holds', () => {
  it('the lowest hold per shard bounds truncateBefore; releasing it lets retention go on', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, segmentBytes: 4096 });
    // small batches, so segments roll at segmentBytes (a roll happens between writes)
    for (let i = 0; i < 600; i++) {
      log.append(`entry ${i} ${'.'.repeat(40)}`);
      if (i % 10 === 9) await log.durable();
    }
    await log.rotate();
    log.append('a');
    log.append('b');
    await log.durable();
    writeHold(dir, { holder: 'slow', shipped: [300, 40], updated: new Date().toISOString() });
    writeHold(dir, { holder: 'fast', shipped: [500, 500], updated: new Date().toISOString() });
    expect(readHolds(dir).map((h) => h.holder)).toEqual(['fast', 'slow']);
    expect(fs.existsSync(holdFile(dir, 'slow'))).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'holds')).sort()).toEqual(['fast.json', 'slow.json']); // no temp files left

    const r = await log.truncateBefore(log.nextSeq);
    expect(r.heldBy).toEqual([
      { holder: 'fast', shard: 0, shipped: 500 },
      { holder: 'slow', shard: 0, shipped: 300 },
      { holder: 'fast', shard: 1, shipped: 500 },
      { holder: 'slow', shard: 1, shipped: 40 },
    ]);
    expect(r.removed.length).toBeGreaterThan(0);
    // what went is below the lowest hold of its shard; everything above it is still there
    const left = await seqs(dir);
    for (const rm of r.removed) expect(rm.firstSeq).toBeLessThan(rm.shard === 0 ? 301 : 41);
    expect(Math.min(...left)).toBeLessThanOrEqual(301);
    for (let s = 301; s < log.nextSeq; s++) expect(left).toContain(s);

    removeHold(dir, 'slow');
    removeHold(dir, 'fast');
    const r2 = await log.truncateBefore(log.nextSeq);
    expect(r2.heldBy).toEqual([]);
    expect(segmentFiles(dir, 0).length).toBe(1);
    expect(segmentFiles(dir, 1).length).toBe(1);
    await log.close();
  });

  it('a hold that cannot be read stops retention, removing nothing; bad names are refused', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, segmentBytes: 4096 });
    for (let i = 0; i < 300; i++) log.append(`entry ${i} ${'.'.repeat(40)}`);
    await log.rotate();
    log.append('x');
    await log.durable();
    fs.mkdirSync(path.join(dir, 'holds'));
    fs.writeFileSync(path.join(dir, 'holds', 'bad.json'), '{"holder":"bad","shipped":[-1]}');
    const before = segmentFiles(dir).length;
    await expect(log.truncateBefore(log.nextSeq)).rejects.toMatchObject({ code: 'ERR_SHARDLOG_FORMAT' });
    expect(segmentFiles(dir).length).toBe(before);
    expect(() => writeHold(dir, { holder: '../x', shipped: [1], updated: '' })).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' }));
    await log.close();
  });
});
