/**
 * Readers: shards merged by seq, any start seq (found by segment name, without reading what lies
 * before), never a record whose CRC fails.
 */
import * as fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, InvalidArgumentError, openLog, readLog, readShard } from '@shardlog/core';
import { flipByte, logDir, readAll, records, segmentFiles } from './helpers.js';

// These tests damage version-1 segments (records with their own CRC, as older builds wrote them, which
// every reader, recovery and verify still handle) byte by byte; files-frames.test.ts does the same to
// version-2 frames.
process.env.SHARDLOG_TEST_SEGMENT_VERSION = '1';

/** A 3-shard log with entries of varied sizes over many segments; returns seq -> text. */
async function build(): Promise<{ dir: string; want: Map<number, string> }> {
  const dir = logDir();
  const log = await openLog({ dir, shards: 3, segmentBytes: 4096 });
  const want = new Map<number, string>();
  for (let i = 0; i < 900; i++) {
    const t = `${i}|` + 'r'.repeat((i * 37) % 200);
    // keyed placement too, so shards hold uneven runs of seqs
    want.set(i % 7 === 0 ? log.appendTo(i % 3, t) : log.append(t), t);
    if (i % 25 === 24) await log.durable();
  }
  await log.close();
  return { dir, want };
}

describe('readLog', () => {
  it('yields every entry once, in global seq order, from any seq (property)', async () => {
    const { dir, want } = await build();
    const all = [...want.keys()].sort((a, b) => a - b);
    expect(segmentFiles(dir, 0).length).toBeGreaterThan(3);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: all.at(-1)! + 3 }), fc.integer({ min: 64, max: 9000 }), async (fromSeq, chunkBytes) => {
        const got: [number, string][] = [];
        for await (const e of readLog({ dir, fromSeq, chunkBytes })) got.push([e.seq, e.text()]);
        expect(got).toEqual(all.filter((s) => s >= fromSeq).map((s) => [s, want.get(s)]));
      }),
      { numRuns: 40 },
    );
  });

  it('starts at the segment named for fromSeq: damage before it is never read', async () => {
    const { dir, want } = await build();
    const segs = segmentFiles(dir, 1);
    flipByte(segs[0], records(segs[0])[2].offset + 20);
    expect(() => readAll(dir)).toThrow(CorruptLogError);
    const from = records(segs[1])[0].seq;
    const got = readAll(dir, from);
    expect(got.map((e) => e.seq)).toEqual([...want.keys()].filter((s) => s >= from).sort((a, b) => a - b));
  });

  it('never yields a record whose CRC fails, wherever one byte of it is changed', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    for (let i = 0; i < 5; i++) log.append(`entry number ${i}`);
    await log.close();
    const file = segmentFiles(dir)[0];
    const orig = fs.readFileSync(file);
    const recs = records(file);
    const target = recs[2];
    for (let k = 0; k < target.len; k++) {
      if (k >= 4 && k < 8) continue; // the CRC word itself: a changed CRC is caught the same way
      const b = Buffer.from(orig);
      b[target.offset + k] ^= 0x01;
      fs.writeFileSync(file, b);
      const seen: string[] = [];
      let err: unknown;
      try {
        for (const e of readShard(dir, 0)) seen.push(e.text());
      } catch (e) {
        err = e;
      }
      // the records before it come out unchanged; the damaged one never does
      expect(seen.slice(0, 2)).toEqual(['entry number 0', 'entry number 1']);
      expect(seen).not.toContain('entry number 2');
      expect(seen.every((t, i) => t === `entry number ${i < 2 ? i : i + 1}`)).toBe(true);
      expect(err).toBeInstanceOf(CorruptLogError);
      expect(err).toMatchObject({ file, offset: target.offset });
    }
  });

  it('reads a log while it is being written', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, segmentBytes: 4096 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 200; i++) log.append(`r${round} ${i}`);
      await log.durable();
      const got = readAll(dir);
      expect(got.length).toBe((round + 1) * 200);
      for (let k = 1; k < got.length; k++) expect(got[k].seq).toBe(got[k - 1].seq + 1);
    }
    await log.close();
  });

  it('rejects bad arguments and other formats', async () => {
    expect(() => readAll(logDir())).toThrow(InvalidArgumentError);
    const dir = logDir();
    await expect(async () => {
      for await (const e of readLog({ dir, fromSeq: -1 })) void e;
    }).rejects.toThrow(/fromSeq/);
    const lines = await openLog({ dir, format: 'lines', shards: 1 });
    lines.append('a line');
    await lines.close();
    expect(() => readAll(dir)).toThrow(/'lines' format/);
  });
});
