/**
 * Torn and corrupt files: every damage gives a clean recovery with an exact report, or a clear
 * error (CorruptLogError with file and offset, LogFormatError); never a crash or a wrong entry.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, LogFormatError, openLog, readLogSync, verifyLog } from '@shardlog/core';
import { crc32c, encodeSegmentHeader, maskCrc, recoverShard, SEGMENT_HEADER_BYTES_V1 } from '@shardlog/workers';
import { flipByte, freshCopy, logDir, readAll, records, segmentFiles, seqTexts, writeLog } from './helpers.js';

// These tests damage version-1 segments (records with their own CRC, as older builds wrote them, which
// every reader, recovery and verify still handle) byte by byte; files-frames.test.ts does the same to
// version-2 frames.
process.env.SHARDLOG_TEST_SEGMENT_VERSION = '1';

/** A one-shard log of 430 entries over several segments, the last holding 30. */
async function base(): Promise<{ dir: string; expected: { seq: number; text: string }[] }> {
  const dir = logDir();
  const w = await writeLog(dir, 400, { shards: 1, segmentBytes: 4096 });
  const expected = w.seqs.map((seq) => ({ seq, text: w.bySeq.get(seq)! }));
  // then a last segment of exactly 30 records (about 2 KB: no roll inside it)
  const log = await openLog({ dir, segmentBytes: 4096 });
  await log.rotate();
  for (let i = 0; i < 30; i++) {
    const text = `tail entry ${i} ` + 't'.repeat(i * 2);
    expected.push({ seq: log.append(text), text });
  }
  await log.close();
  expect(records(segmentFiles(dir).at(-1)!).length).toBe(30);
  return { dir, expected };
}

const fresh = freshCopy;
const texts = seqTexts;

describe('recovery: torn tails', () => {
  it('truncating the last segment at every offset inside its last records cuts back to the last whole record', async () => {
    const { dir, expected } = await base();
    const segs = segmentFiles(dir);
    expect(segs.length).toBeGreaterThan(2);
    const last = segs[segs.length - 1];
    const full = fs.readFileSync(last);
    const recs = records(last);
    expect(recs.length).toBeGreaterThan(3);
    const before = expected.length - recs.length; // entries in earlier segments
    const work = fresh(dir);
    const wlast = segmentFiles(work).at(-1)!;
    const from = recs[recs.length - 3].offset;
    for (let cut = from; cut < full.length; cut++) {
      fs.writeFileSync(wlast, full.subarray(0, cut));
      const whole = recs.filter((r) => r.offset + r.size <= cut);
      const end = whole.length ? whole.at(-1)!.offset + whole.at(-1)!.size : SEGMENT_HEADER_BYTES_V1;
      // a reader of the torn file stops quietly at the tear, with exactly the whole records
      expect(texts(work)).toEqual(expected.slice(0, before + whole.length));
      const r = recoverShard(work, 0, 'framed');
      expect(r.records).toBe(whole.length);
      expect(r.bytesCut).toBe(cut - end);
      if (cut > end) {
        expect(r.cutFile).toBe(wlast);
        expect(r.cutOffset).toBe(end);
        expect(r.cutReason).toMatch(/past the end of the file|length is impossible/);
      } else expect(r.cutFile).toBeUndefined();
      expect(r.lastSeq).toBe(expected[before + whole.length - 1].seq);
      expect(r.tail).toEqual({ file: wlast, firstSeq: Number(path.basename(wlast, '.wal')), size: end, maxSeq: r.lastSeq, version: 1, chainCrc: -1 });
      expect(fs.statSync(wlast).size).toBe(end);
    }
  });

  it('a torn open is reported in log.recovery, and appends continue after the cut', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const recs = records(last);
    const tear = recs.at(-1)!.offset + 5;
    fs.truncateSync(last, tear);
    const log = await openLog({ dir });
    expect(log.recovery[0]).toMatchObject({ shard: 0, bytesCut: 5, cutFile: last, cutOffset: recs.at(-1)!.offset, lastSeq: recs.at(-2)!.seq });
    const seq = log.append('after the tear');
    await log.close();
    expect(seq).toBe(recs.at(-2)!.seq + 1); // the cut entry's seq was never durable
    expect(texts(dir)).toEqual([...expected.slice(0, -1), { seq, text: 'after the tear' }]);
  });

  it('garbage appended to the last segment is cut, zeros or not', async () => {
    const { dir, expected } = await base();
    for (const garbage of [Buffer.alloc(100), Buffer.from('not a record at all, just noise from somewhere else'.repeat(3)), Buffer.from([0xff, 0xff, 0xff, 0x7f])]) {
      const work = fresh(dir);
      const last = segmentFiles(work).at(-1)!;
      const size = fs.statSync(last).size;
      fs.appendFileSync(last, garbage);
      const log = await openLog({ dir: work });
      expect(log.recovery[0]).toMatchObject({ bytesCut: garbage.length, cutOffset: size, skippedRegions: 0 });
      await log.close();
      expect(texts(work)).toEqual(expected);
      expect((await verifyLog({ dir: work, threads: 0 })).ok).toBe(true);
    }
  });

  it('a zero-filled hole before the end (an unflushed write) is cut like a tear', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const recs = records(last);
    // zero the second-to-last record: the last one stays valid behind a hole of zeros
    const b = fs.readFileSync(last);
    b.fill(0, recs.at(-2)!.offset, recs.at(-2)!.offset + recs.at(-2)!.size);
    fs.writeFileSync(last, b);
    const r = recoverShard(dir, 0, 'framed');
    expect(r).toMatchObject({ cutOffset: recs.at(-2)!.offset, bytesCut: recs.at(-2)!.size + recs.at(-1)!.size });
    expect(r.cutReason).toMatch(/zero-filled hole/);
    expect(texts(dir)).toEqual(expected.slice(0, -2));
  });

  it('a last segment shorter than its header, or all zeros, is removed (a crash while creating it)', async () => {
    const { dir, expected } = await base();
    for (const content of [Buffer.alloc(0), Buffer.from('SHARD'), Buffer.alloc(4096)]) {
      const work = fresh(dir);
      const extra = path.join(work, '000', String(expected.at(-1)!.seq + 1).padStart(20, '0') + '.wal');
      fs.writeFileSync(extra, content);
      expect(texts(work)).toEqual(expected); // readers pass over it before recovery too
      expect((await verifyLog({ dir: work, threads: 0 })).errors).toEqual([]);
      const log = await openLog({ dir: work });
      expect(log.recovery[0].removedFiles).toEqual([extra]);
      expect(log.recovery[0].lastSeq).toBe(expected.at(-1)!.seq);
      await log.close();
      expect(fs.existsSync(extra)).toBe(false);
      expect(texts(work)).toEqual(expected);
    }
  });
});

describe('recovery: corruption', () => {
  it('a flipped byte in the last record of the tail is cut (indistinguishable from a tear)', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const rec = records(last).at(-1)!;
    flipByte(last, rec.offset + 20);
    const log = await openLog({ dir });
    expect(log.recovery[0]).toMatchObject({ cutOffset: rec.offset, bytesCut: rec.size, cutReason: 'record checksum mismatch' });
    await log.close();
    expect(texts(dir)).toEqual(expected.slice(0, -1));
  });

  it('a flipped byte mid-tail is CorruptLogError with file and offset; skipCorrupt skips exactly that record', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const recs = records(last);
    const bad = recs[1];
    flipByte(last, bad.offset + 17);
    // readers refuse it too, naming the same place
    expect(() => readAll(dir)).toThrow(CorruptLogError);
    const err = await openLog({ dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptLogError);
    expect(err).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: last, offset: bad.offset });
    expect(fs.existsSync(path.join(dir, 'shardlog.lock'))).toBe(false); // a failed open releases the lock
    const log = await openLog({ dir, skipCorrupt: true });
    expect(log.recovery[0]).toMatchObject({ skippedRegions: 1, skippedBytes: bad.size, bytesCut: 0, records: recs.length - 1 });
    await log.close();
    const v = await verifyLog({ dir, threads: 0 });
    expect(v.ok).toBe(false);
    expect(v.errors).toEqual([expect.objectContaining({ file: last, offset: bad.offset })]);
  });

  it('a flipped byte in an older segment: tail recovery opens, readers and verify name it, verify: all refuses', async () => {
    const { dir, expected } = await base();
    const first = segmentFiles(dir)[0];
    const bad = records(first)[3];
    flipByte(first, bad.offset + 12); // the seq word
    const log = await openLog({ dir });
    expect(log.recovery[0].segmentsScanned).toBe(1);
    await log.close();
    let err: unknown;
    try {
      readAll(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: first, offset: bad.offset });
    // a reader that starts past that segment never reads it
    const from = records(segmentFiles(dir)[1])[0].seq;
    expect([...readLogSync({ dir, fromSeq: from })].map((e) => e.seq)).toEqual(expected.filter((e) => e.seq >= from).map((e) => e.seq));
    await expect(openLog({ dir, verify: 'all' })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: first, offset: bad.offset });
    const l2 = await openLog({ dir, verify: 'all', skipCorrupt: true });
    expect(l2.recovery[0]).toMatchObject({ segmentsScanned: segmentFiles(dir).length, records: expected.length - 1, skippedRegions: 1, skippedBytes: bad.size });
    await l2.close();
  });

  it('a deleted middle segment: readers and verify: all name the gap; verify reports it', async () => {
    const { dir, expected } = await base();
    const segs = segmentFiles(dir);
    fs.rmSync(segs[1]);
    expect(() => readAll(dir)).toThrow(/a segment is missing/);
    const v = await verifyLog({ dir, threads: 0 });
    expect(v.ok).toBe(false);
    expect(v.errors).toEqual([expect.objectContaining({ file: segs[2], offset: 0, reason: expect.stringMatching(/segment is missing/) })]);
    await expect(openLog({ dir, verify: 'all' })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: segs[2], offset: 0 });
    void expected;
  });

  it('a deleted last segment: the log opens at the one before, with what it holds', async () => {
    const { dir, expected } = await base();
    const segs = segmentFiles(dir);
    const gone = records(segs.at(-1)!).length;
    fs.rmSync(segs.at(-1)!);
    const log = await openLog({ dir });
    expect(log.recovery[0]).toMatchObject({ segments: segs.length - 1, lastSeq: expected.at(-gone - 1)!.seq, bytesCut: 0 });
    await log.close();
    expect(texts(dir)).toEqual(expected.slice(0, -gone));
  });
});

describe('recovery: foreign and future files', () => {
  async function refused(mutate: (file: string) => void, pattern: RegExp, which: 'first' | 'last' = 'first'): Promise<void> {
    const { dir } = await base();
    const segs = segmentFiles(dir);
    const file = which === 'first' ? segs[0] : segs.at(-1)!;
    mutate(file);
    const e = await openLog({ dir }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(LogFormatError);
    expect(e).toMatchObject({ code: 'ERR_SHARDLOG_FORMAT', file });
    expect((e as Error).message).toMatch(pattern);
    expect(() => readAll(dir)).toThrow(LogFormatError);
  }
  const header = (file: string, patch: (h: Buffer) => void) => {
    const b = fs.readFileSync(file);
    patch(b);
    fs.writeFileSync(file, b);
  };
  it('bad magic', () => refused((f) => header(f, (b) => b.write('NOTOURS!', 0)), /bad magic/));
  it('a future format version (with a valid header checksum)', () =>
    refused(
      (f) =>
        header(f, (b) => {
          b.writeUInt16LE(3, 8);
          b.writeUInt32LE(maskCrc(crc32c(b, 0, 36)), 36);
        }),
      /version 3 is not supported/,
    ));
  it('a damaged header', () => refused((f) => header(f, (b) => (b[30] ^= 1)), /checksum mismatch/, 'last'));
  it('a segment of another shard', () =>
    refused(
      (f) => fs.writeFileSync(f, Buffer.concat([encodeSegmentHeader({ version: 1, shard: 3, firstSeq: Number(path.basename(f, '.wal')), prevMaxSeq: 0 }), fs.readFileSync(f).subarray(40)])),
      /belongs to shard 3|says shard 3/,
    ));
  it('a header whose first seq disagrees with the name', () =>
    refused((f) => fs.writeFileSync(f, Buffer.concat([encodeSegmentHeader({ version: 1, shard: 0, firstSeq: 999_999, prevMaxSeq: 0 }), fs.readFileSync(f).subarray(40)])), /999999/));
});

describe('recovery: sequence numbers after a crash', () => {
  it('never hands out a seq below the name of a segment whose records a crash cut (regression)', async () => {
    // Two shards; shard 1's newest segment was created for a batch at seq M+100, and the crash cut
    // all of its records while the highest durable seq anywhere is M. Appending seqs from M+1 into
    // it would make the next segment's name lower than this one's: files out of order.
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, segmentBytes: 4096 });
    for (let i = 0; i < 20; i++) log.append(`before ${i}`);
    await log.close();
    const max = readAll(dir).at(-1)!.seq;
    const s1 = readAll(dir).filter((e) => e.shard === 1).at(-1)!.seq;
    const name = max + 100;
    fs.writeFileSync(path.join(dir, '001', String(name).padStart(20, '0') + '.wal'), encodeSegmentHeader({ version: 1, shard: 1, firstSeq: name, prevMaxSeq: s1 }));
    const again = await openLog({ dir, segmentBytes: 4096 });
    expect(again.nextSeq).toBeGreaterThanOrEqual(name);
    const big = 'x'.repeat(1000);
    const seqs: number[] = [];
    for (let i = 0; i < 30; i++) {
      seqs.push(again.appendTo(1, `${i}:${big}`));
      if (i % 3 === 2) await again.durable(); // batches of 3 KB: shard 1 rolls every other batch
    }
    await again.close();
    expect(segmentFiles(dir, 1).length).toBeGreaterThan(3);
    const v = await verifyLog({ dir, threads: 0 });
    expect(v.errors).toEqual([]);
    const after = readAll(dir);
    for (let k = 1; k < after.length; k++) expect(after[k].seq).toBeGreaterThan(after[k - 1].seq);
    expect(after.filter((e) => e.shard === 1 && e.seq >= name).map((e) => e.seq)).toEqual(seqs);
  });
});
