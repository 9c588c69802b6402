/**
 * A cursor of another process (tail -f, the directory shipper) that stopped at a torn record must
 * see what the writer wrote after recovery cut that record and appended new ones at the same offset,
 * not the stale bytes it read before.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openLog, ShardCursor } from '@shardlog/core';
import { logDir, segmentFiles } from './helpers.js';

function drain(c: ShardCursor): string[] {
  const out: string[] = [];
  for (let e = c.next(Number.MAX_SAFE_INTEGER, 0); e; e = c.next(Number.MAX_SAFE_INTEGER, 0)) out.push(e.text());
  return out;
}

describe('a follower across a crash and recovery of the writer', () => {
  it('reads the records recovery-and-append put where a torn record was', async () => {
    const dir = logDir();
    let log = await openLog({ dir, shards: 1 });
    for (let i = 0; i < 5; i++) log.append(`before ${i}`);
    await log.close();
    const [file] = segmentFiles(dir, 0);
    // a torn write: a record header claiming 200 bytes, followed by only some of them
    const torn = Buffer.alloc(80, 0x41);
    torn.writeInt32LE(200, 0);
    fs.appendFileSync(file, torn);
    const c = new ShardCursor(dir, 0, 0, 64);
    expect(drain(c)).toEqual([0, 1, 2, 3, 4].map((i) => `before ${i}`));
    expect(c.stuck).toBeDefined();
    log = await openLog({ dir, shards: 1 }); // recovery cuts the torn record; new records go where it was
    expect(log.recovery[0].bytesCut).toBe(80);
    for (let i = 0; i < 3; i++) log.append(`after ${i}`);
    await log.durable();
    expect(drain(c)).toEqual([0, 1, 2].map((i) => `after ${i}`));
    expect(c.diagnose()).toBeUndefined();
    await log.close();
    c.close();
  });
});
