/** Engine: every entry kind goes through the ring and the files and comes back byte for byte. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog, readLog, readLogSync } from '@shardlog/core';
import { logDir, segmentFiles } from './helpers.js';

async function collect(dir: string) {
  const out: { seq: number; shard: number; isText: boolean; data: Buffer }[] = [];
  for await (const e of readLog({ dir })) out.push({ seq: e.seq, shard: e.shard, isText: e.isText, data: Buffer.from(e.data) });
  return out;
}

describe('round trip', () => {
  it('strings (ASCII, multi-byte, empty), binary (incl. empty) and appendMany come back exactly, in seq order', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 3, sync: 'batch' });
    const entries: (string | Uint8Array)[] = [
      'INSERT row 1',
      'héllo wörld ✓ 🚀',
      '',
      new Uint8Array([0, 1, 2, 255]),
      new Uint8Array(0),
      'x'.repeat(10_000),
      Buffer.from('a buffer is a Uint8Array'),
      '\u0000nul and \n newline inside',
    ];
    const seqs = entries.map((e) => log.append(e));
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
    const last = log.appendMany(['m1', new Uint8Array([9, 9]), 'm3 ✓']);
    expect(last).toBe(seqs.at(-1)! + 3);
    await log.durable();
    await log.close();

    const got = await collect(dir);
    const want = [...entries, 'm1', new Uint8Array([9, 9]), 'm3 ✓'];
    expect(got.map((g) => g.seq)).toEqual(want.map((_, i) => seqs[0] + i));
    for (let i = 0; i < want.length; i++) {
      const w = want[i];
      expect(got[i].isText).toBe(typeof w === 'string');
      expect(got[i].data.equals(typeof w === 'string' ? Buffer.from(w, 'utf8') : Buffer.from(w))).toBe(true);
    }
    // appends go round-robin over the shards; appendMany puts its batch in one shard
    expect(new Set(got.slice(0, 3).map((g) => g.shard)).size).toBe(3);
    expect(new Set(got.slice(-3).map((g) => g.shard)).size).toBe(1);
  });

  it('continues the sequence after reopening, and appendTo places entries in the chosen shard', async () => {
    const dir = logDir();
    let log = await openLog({ dir, shards: 2 });
    log.append('a');
    log.append('b');
    await log.close();
    log = await openLog({ dir });
    expect(log.shards).toBe(2);
    expect(log.appendTo(1, 'c')).toBe(3);
    expect(log.appendTo(1, 'd')).toBe(4);
    await log.close();
    const got = [...readLogSync({ dir })].map((e) => [e.seq, e.shard, e.text()] as const);
    expect(got).toEqual([
      [1, 0, 'a'],
      [2, 1, 'b'],
      [3, 1, 'c'],
      [4, 1, 'd'],
    ]);
  });

  it("format 'lines' writes plain newline-terminated text with no framing", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, format: 'lines' });
    log.append('{"level":30,"msg":"one"}');
    log.append('already terminated\n');
    log.append(Buffer.from('bytes'));
    log.appendMany(['x', 'y\n']);
    await log.close();
    const files = segmentFiles(dir, 0);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\.log$/);
    expect(fs.readFileSync(files[0], 'utf8')).toBe('{"level":30,"msg":"one"}\nalready terminated\nbytes\nx\ny\n');
    // reopening continues after the existing lines and never reuses a segment name
    const log2 = await openLog({ dir, format: 'lines' });
    log2.append('after');
    await log2.rotate();
    log2.append('rotated');
    await log2.close();
    const all = segmentFiles(dir, 0).map((f) => fs.readFileSync(f, 'utf8')).join('');
    expect(all).toBe('{"level":30,"msg":"one"}\nalready terminated\nbytes\nx\ny\nafter\nrotated\n');
  });

  it('rolls segments at segmentBytes and reads across them', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, segmentBytes: 4096, maxBatchBytes: 4096 });
    const n = 2000;
    for (let i = 0; i < n; i++) {
      log.append(`entry ${i}`);
      if (i % 100 === 99) await log.durable();
    }
    await log.close();
    const files = segmentFiles(dir, 0);
    expect(files.length).toBeGreaterThan(5);
    for (const f of files.slice(0, -1)) expect(fs.statSync(f).size).toBeLessThan(4096 + 4096 + 64);
    const got = [...readLogSync({ dir })];
    expect(got.map((e) => e.text())).toEqual(Array.from({ length: n }, (_, i) => `entry ${i}`));
    // a segment's name is its first record's seq
    for (const f of files) {
      const first = Number(f.slice(-24, -4));
      const inFile = got.find((e) => e.seq === first);
      expect(inFile).toBeDefined();
    }
  });
});

describe('segment creation and crashes', () => {
  it('a last segment whose header never reached the disk (zeros) is removed on open; one before the last is refused', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    log.append('kept');
    await log.close();
    const torn = path.join(dir, '000', '00000000000000000099.wal');
    fs.writeFileSync(torn, Buffer.alloc(4096)); // size allocated, blocks never written
    const again = await openLog({ dir });
    expect(again.recovery[0].removedFiles).toEqual([torn]);
    expect(fs.existsSync(torn)).toBe(false);
    await again.rotate();
    expect(again.append('next')).toBe(2); // in a second segment
    await again.close();
    expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['kept', 'next']);

    // the same zeros in a segment that is not the last are not a crash artefact: refuse to guess
    const segs = segmentFiles(dir, 0);
    expect(segs).toHaveLength(2);
    fs.writeFileSync(segs[0], Buffer.alloc(4096));
    await expect(openLog({ dir })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_FORMAT' });
  });
});
