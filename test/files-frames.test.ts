/**
 * Segment format version 2: the 80-byte header and batch frames byte by byte, torn frames at every
 * byte offset (cut whole), a damaged frame before valid ones (corruption), chain breaks (a frame
 * dropped, two swapped, one copied from another segment), a log holding version-1 then version-2
 * segments, and the JavaScript CRC fallback.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, openLog, ShardCursor, verifyLog } from '@shardlog/core';
import {
  checkFrame,
  crc32c,
  crc32cImplementation,
  crc32cRange,
  decodeSegmentHeader,
  encodeFrame,
  encodeSegmentHeader,
  FRAME_BAD_CHAIN,
  FRAME_BAD_CRC,
  FRAME_HEADER_BYTES,
  maskCrc,
  readFrameHeader,
  recoverShard,
  SEGMENT_HEADER_BYTES,
} from '@shardlog/workers';
import { flipByte, freshCopy, logDir, readAll, records, runCli, runModule, segmentFiles, seqTexts, writeLog, type RecordAt } from './helpers.js';

/** The frames of a segment, from helpers.records: [start, end) and the records each holds. */
function frames(file: string): { start: number; end: number; recs: RecordAt[] }[] {
  const out: { start: number; end: number; recs: RecordAt[] }[] = [];
  for (const r of records(file)) {
    if (out.at(-1)?.start !== r.frameStart) out.push({ start: r.frameStart!, end: r.frameEnd!, recs: [] });
    out.at(-1)!.recs.push(r);
  }
  return out;
}

/**
 * A one-shard log over several segments whose last segment holds at least 6 frames (small batches:
 * writeLog waits for the writer every 10 entries).
 */
async function base(): Promise<{ dir: string; expected: { seq: number; text: string }[] }> {
  const dir = logDir();
  const w = await writeLog(dir, 300, { shards: 1, segmentBytes: 8192 });
  const w2 = await writeLog(dir, 60, { shards: 1, segmentBytes: 1 << 20 }, 1);
  const expected = [...w.seqs.map((seq) => ({ seq, text: w.bySeq.get(seq)! })), ...w2.seqs.map((seq) => ({ seq, text: w2.bySeq.get(seq)! }))];
  expect(frames(segmentFiles(dir).at(-1)!).length).toBeGreaterThanOrEqual(6);
  return { dir, expected };
}

const fresh = freshCopy;
const texts = seqTexts;

describe('format 2 on disk', () => {
  it('an 80-byte header, then frames chained from its CRC; records carry a zero CRC word', async () => {
    const { dir, expected } = await base();
    const segs = segmentFiles(dir);
    expect(segs.length).toBeGreaterThan(2);
    let total = 0;
    let prevMax = 0;
    for (const file of segs) {
      const b = fs.readFileSync(file);
      expect(b.subarray(0, 8).toString('latin1')).toBe('SHARDLOG');
      expect(b.readUInt16LE(8)).toBe(2); // version
      expect(b.readUInt16LE(10)).toBe(1); // record format: framed
      expect(b.readUInt16LE(12)).toBe(0); // shard
      expect(b.readUInt16LE(14)).toBe(0); // flags: not encrypted
      expect(b.readUInt32LE(16) + b.readUInt32LE(20) * 2 ** 32).toBe(Number(path.basename(file, '.wal')));
      expect(b.readUInt32LE(24) + b.readUInt32LE(28) * 2 ** 32).toBe(prevMax);
      expect(b.subarray(32, 76).every((x) => x === 0)).toBe(true); // salt, keyId, keyCheck, reserved
      expect(b.readUInt32LE(76)).toBe(maskCrc(crc32c(b, 0, 76)));
      expect(decodeSegmentHeader(b, file)).toMatchObject({ version: 2, shard: 0, prevMaxSeq: prevMax, crc: b.readUInt32LE(76) });
      const fs2 = frames(file);
      expect(fs2.length).toBeGreaterThan(1);
      let chain = b.readUInt32LE(76);
      let at = SEGMENT_HEADER_BYTES;
      for (const f of fs2) {
        expect(f.start).toBe(at);
        const h = readFrameHeader(new DataView(b.buffer, b.byteOffset, b.length), f.start);
        expect(h).toMatchObject({ prevCrc: chain, flags: 0, firstSeq: f.recs[0].seq, count: f.recs.length, frameLength: f.end - f.start });
        expect(h.bodyLength).toBe(f.end - f.start - FRAME_HEADER_BYTES);
        const crc = maskCrc(crc32c(Buffer.concat([b.subarray(f.start, f.start + 4), b.subarray(f.start + 8, f.end)])));
        expect(h.crc).toBe(crc);
        for (const r of f.recs) expect(b.readUInt32LE(r.offset + 4)).toBe(0);
        chain = h.crc;
        at = f.end;
        total += f.recs.length;
      }
      expect(at).toBe(b.length);
      prevMax = fs2.at(-1)!.recs.at(-1)!.seq;
    }
    expect(total).toBe(expected.length);
    expect(texts(dir)).toEqual(expected);
    const v = await verifyLog({ dir });
    expect(v).toMatchObject({ ok: true, records: expected.length });
  });

  it('encodeFrame and checkFrame agree; a flipped bit or a wrong prevCrc is refused', () => {
    const body = Buffer.alloc(24);
    body.writeInt32LE(21, 0);
    body.writeUInt32LE(7, 8);
    body.writeUInt32LE((1 << 24) >>> 0, 12);
    body.write('hello', 16);
    const f = encodeFrame(body, 0x1234, 7, 1);
    const dv = new DataView(f.buffer);
    expect(checkFrame(f, dv, 0, f.length, 0x1234)).toBe(FRAME_HEADER_BYTES + 24);
    expect(checkFrame(f, dv, 0, f.length, -1)).toBe(FRAME_HEADER_BYTES + 24);
    expect(checkFrame(f, dv, 0, f.length, 0x1235)).toBe(FRAME_BAD_CHAIN);
    f[40] ^= 1;
    expect(checkFrame(f, dv, 0, f.length, 0x1234)).toBe(FRAME_BAD_CRC);
  });
});

describe('format 2: torn frames are cut whole', () => {
  it('truncating the last segment at every byte offset of its last two frames cuts back to the last whole frame', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const full = fs.readFileSync(last);
    const fr = frames(last);
    expect(fr.length).toBeGreaterThan(2);
    const inLast = fr.reduce((n, f) => n + f.recs.length, 0);
    const before = expected.length - inLast;
    const work = fresh(dir);
    const wlast = segmentFiles(work).at(-1)!;
    for (let cut = fr.at(-2)!.start; cut < full.length; cut++) {
      fs.writeFileSync(wlast, full.subarray(0, cut));
      const whole = fr.filter((f) => f.end <= cut);
      const kept = whole.reduce((n, f) => n + f.recs.length, 0);
      const end = whole.at(-1)!.end;
      expect(texts(work)).toEqual(expected.slice(0, before + kept));
      const r = recoverShard(work, 0, 'framed');
      expect(r.records).toBe(kept);
      expect(r.bytesCut).toBe(cut - end);
      if (cut > end) expect(r).toMatchObject({ cutFile: wlast, cutOffset: end, cutReason: expect.stringMatching(/^frame /) });
      expect(r.tail).toMatchObject({ size: end, version: 2, maxSeq: whole.at(-1)!.recs.at(-1)!.seq });
      expect(fs.statSync(wlast).size).toBe(end);
    }
  });

  it('after a cut, appends continue the chain in the same segment; everything reads back and verifies', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const fr = frames(last);
    fs.truncateSync(last, fr.at(-1)!.end - 3); // tear the last frame
    const kept = expected.slice(0, expected.length - fr.at(-1)!.recs.length);
    const log = await openLog({ dir });
    expect(log.recovery[0]).toMatchObject({ cutFile: last, cutOffset: fr.at(-1)!.start });
    for (let i = 0; i < 5; i++) kept.push({ seq: log.append(`after ${i}`), text: `after ${i}` });
    await log.close();
    expect(segmentFiles(dir).at(-1)).toBe(last);
    expect(texts(dir)).toEqual(kept);
    expect(await verifyLog({ dir })).toMatchObject({ ok: true, records: kept.length });
  });

  it('a zero-filled frame (an unflushed hole) with frames after it is cut like a tear', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const fr = frames(last);
    const hole = fr.at(-2)!;
    const fd = fs.openSync(last, 'r+');
    fs.writeSync(fd, Buffer.alloc(hole.end - hole.start), 0, hole.end - hole.start, hole.start);
    fs.closeSync(fd);
    const n = fr.at(-1)!.recs.length + hole.recs.length;
    const r = recoverShard(dir, 0, 'framed');
    expect(r).toMatchObject({ cutOffset: hole.start, cutReason: expect.stringMatching(/hole/) });
    expect(texts(dir)).toEqual(expected.slice(0, expected.length - n));
  });
});

describe('format 2: corruption', () => {
  it('a flipped byte in a frame with valid frames after it: CorruptLogError at the frame; skipCorrupt skips exactly that frame', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const fr = frames(last);
    const bad = fr[1];
    flipByte(last, bad.recs[0].offset + 18);
    const e = await openLog({ dir }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(CorruptLogError);
    expect(e).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: last, offset: bad.start });
    expect((e as Error).message).toMatch(/frame checksum mismatch/);
    const v = await verifyLog({ dir });
    expect(v.ok).toBe(false);
    expect(v.errors).toEqual([expect.objectContaining({ file: last, offset: bad.start })]);
    expect(() => readAll(dir)).toThrow(CorruptLogError);
    const all = fr.reduce((n, f) => n + f.recs.length, 0);
    const log = await openLog({ dir, skipCorrupt: true });
    expect(log.recovery[0]).toMatchObject({ skippedRegions: 1, skippedBytes: bad.end - bad.start, bytesCut: 0, records: all - bad.recs.length });
    const seq = log.append('after the damage');
    await log.close();
    expect(seq).toBe(expected.at(-1)!.seq + 1);
  });

  it('a flipped byte in the last frame is cut (indistinguishable from a tear)', async () => {
    const { dir, expected } = await base();
    const last = segmentFiles(dir).at(-1)!;
    const fr = frames(last);
    flipByte(last, fr.at(-1)!.recs.at(-1)!.offset + 17);
    const log = await openLog({ dir });
    expect(log.recovery[0]).toMatchObject({ cutOffset: fr.at(-1)!.start, cutReason: expect.stringMatching(/frame checksum mismatch/) });
    await log.close();
    expect(texts(dir)).toEqual(expected.slice(0, expected.length - fr.at(-1)!.recs.length));
  });

  /** Rewrite a segment's frames (after its header) in a new order; returns the file. */
  function reframe(file: string, pick: (fr: Buffer[]) => Buffer[]): void {
    const b = fs.readFileSync(file);
    const parts = frames(file).map((f) => b.subarray(f.start, f.end));
    fs.writeFileSync(file, Buffer.concat([b.subarray(0, SEGMENT_HEADER_BYTES), ...pick(parts)]));
  }

  const chainCases: [string, (fr: Buffer[], other: Buffer[]) => Buffer[], number][] = [
    ['a frame dropped from the middle', (fr) => [fr[0], ...fr.slice(2)], 1],
    ['the second-to-last frame dropped (the last one then breaks the chain at the tail)', (fr) => [...fr.slice(0, -2), fr.at(-1)!], -1],
    ['two frames swapped', (fr) => [fr[0], fr[2], fr[1], ...fr.slice(3)], 1],
    ['the last two frames swapped', (fr) => [...fr.slice(0, -2), fr.at(-1)!, fr.at(-2)!], -2],
    ['a frame copied from another segment at the end', (fr, other) => [...fr, other[1]], -1],
  ];
  for (const [name, pick, at] of chainCases) {
    it(`${name}: CorruptLogError (never a cut), readers and verify name it`, async () => {
      const { dir } = await base();
      const segs = segmentFiles(dir);
      const last = segs.at(-1)!;
      const ob = fs.readFileSync(segs[0]);
      const other = frames(segs[0]).map((f) => ob.subarray(f.start, f.end));
      reframe(last, (fr) => pick(fr, other));
      const after = frames(last);
      const offset = after.at(at)!.start;
      const e = await openLog({ dir }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: last, offset });
      expect((e as Error).message).toMatch(/does not follow the previous frame/);
      expect(() => readAll(dir)).toThrow(CorruptLogError);
      const v = await verifyLog({ dir });
      expect(v.ok).toBe(false);
      expect(JSON.stringify(v)).toMatch(/does not follow the previous frame/);
      expect(fs.existsSync(last)).toBe(true);
    });
  }
});

describe('shardlog verify on format 2', () => {
  it('exits 0 on a sound log, 1 on a bad frame CRC and on a chain break, naming file and offset', async () => {
    const dir = logDir();
    await writeLog(dir, 300, { shards: 2, segmentBytes: 4096 });
    const ok = await runCli(['verify', dir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/2 shards, \d+ segments, 300 records/);
    const f = segmentFiles(dir, 1)[0];
    const fr = frames(f);
    expect(fr.length).toBeGreaterThan(2);
    const orig = fs.readFileSync(f);
    flipByte(f, fr[1].recs[0].offset + 18);
    const bad = await runCli(['verify', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`CORRUPT: ${f} at offset ${fr[1].start}: frame checksum mismatch; valid frames resume at offset ${fr[2].start}`);
    // frames 1 and 2 swapped: each is whole, the chain is not
    const swapped = Buffer.concat([orig.subarray(0, fr[1].start), orig.subarray(fr[2].start, fr[2].end), orig.subarray(fr[1].start, fr[1].end), orig.subarray(fr[2].end)]);
    fs.writeFileSync(f, swapped);
    const chain = await runCli(['verify', dir, '--json', '--threads', '0']);
    expect(chain.code).toBe(1);
    const json = JSON.parse(chain.stdout);
    expect(json).toMatchObject({ ok: false, records: 300 });
    // each frame out of place is named: the one now at frame 1's place, then frame 1 after it
    expect(json.errors.slice(0, 2)).toEqual([
      expect.objectContaining({ file: f, offset: fr[1].start, reason: expect.stringMatching(/^frame does not follow the previous frame/) }),
      expect.objectContaining({ file: f, offset: fr[1].start + (fr[2].end - fr[2].start) }),
    ]);
  });
});

describe("format 2: follow's cursor", () => {
  it('stays on a half-written frame (not an error), reads on when it is whole, and names a corrupt one via diagnose()', async () => {
    const { dir } = await base();
    const file = segmentFiles(dir).at(-1)!;
    const fr = frames(file);
    const orig = fs.readFileSync(file);
    const half = fr[2];
    fs.writeFileSync(file, orig.subarray(0, half.start + 40)); // frame 2 half written
    const c = new ShardCursor(dir, 0, 0);
    const seqs: number[] = [];
    for (let e = c.next(Number.MAX_SAFE_INTEGER, 0); e; e = c.next(Number.MAX_SAFE_INTEGER, 0)) seqs.push(e.seq);
    const whole = [...fr[0].recs, ...fr[1].recs].map((r) => r.seq);
    expect(seqs.slice(-whole.length)).toEqual(whole); // (the older segments' entries first)
    expect(seqs.at(-1)).toBe(whole.at(-1));
    expect(c.stuck).toMatchObject({ file, offset: half.start, reason: 'frame runs past the end of the file' });
    expect(c.diagnose()).toBeUndefined();
    fs.writeFileSync(file, orig); // the writer finished it
    const rest: number[] = [];
    for (let e = c.next(Number.MAX_SAFE_INTEGER, 0); e; e = c.next(Number.MAX_SAFE_INTEGER, 0)) rest.push(e.seq);
    expect(rest[0]).toBe(half.recs[0].seq);
    expect(c.stuck).toBeUndefined();
    c.close();

    const b = Buffer.from(orig);
    b[fr[1].recs[0].offset + 20] ^= 1;
    fs.writeFileSync(file, b);
    const d = new ShardCursor(dir, 0, 0);
    while (d.next(Number.MAX_SAFE_INTEGER, 0));
    expect(d.stuck).toMatchObject({ file, offset: fr[1].start });
    expect(d.diagnose()).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file, offset: fr[1].start });
    d.close();
  });
});

describe('format 2: large records', () => {
  it('a 6 MiB record (a frame larger than a scan chunk): read back, recovered, verified; a flipped byte in it is found', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 16 << 20 });
    const big = Buffer.alloc(6 << 20, 0x61);
    big[123456] = 0x62;
    log.append('before');
    await log.durable();
    log.append(big);
    await log.durable();
    log.append('after');
    await log.close();
    const got = readAll(dir);
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(Buffer.from(got[1].text, 'latin1').equals(big)).toBe(true);
    const again = await openLog({ dir });
    expect(again.recovery[0]).toMatchObject({ records: 3, lastSeq: 3, bytesCut: 0 });
    await again.close();
    expect(await verifyLog({ dir, threads: 0 })).toMatchObject({ ok: true, records: 3 });
    const file = segmentFiles(dir)[0];
    const fr = frames(file);
    const inBig = fr.find((f) => f.recs.some((r) => r.seq === 2))!;
    expect(fr.indexOf(inBig)).toBeLessThan(fr.length - 1); // 'after' is in a later frame
    flipByte(file, inBig.recs.find((r) => r.seq === 2)!.offset + 5_000_000);
    expect(() => readAll(dir)).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_CORRUPT', file, offset: inBig.start }));
    const v = await verifyLog({ dir, threads: 0 });
    expect(v.errors).toEqual([expect.objectContaining({ file, offset: inBig.start, reason: expect.stringMatching(/^frame checksum mismatch; valid frames resume at offset/) })]);
  });
});

describe('format 1 and 2 in one log', () => {
  it('version-1 segments, then version-2 segments after a reopen: all read back, recover and verify', async () => {
    const dir = logDir();
    const w1 = await writeLog(dir, 120, { shards: 2, segmentBytes: 4096, testFaults: { segmentVersion: 1 } });
    const v1Files = [...segmentFiles(dir, 0), ...segmentFiles(dir, 1)];
    for (const f of v1Files) expect(fs.readFileSync(f).readUInt16LE(8)).toBe(1);
    const w2 = await writeLog(dir, 120, { shards: 2, segmentBytes: 4096 }, 1);
    const expected = [...w1.seqs.map((seq) => ({ seq, text: w1.bySeq.get(seq)! })), ...w2.seqs.map((seq) => ({ seq, text: w2.bySeq.get(seq)! }))];
    expected.sort((a, b) => a.seq - b.seq);
    for (const shard of [0, 1]) {
      const versions = segmentFiles(dir, shard).map((f) => fs.readFileSync(f).readUInt16LE(8));
      expect(versions[0]).toBe(1);
      expect(versions.at(-1)).toBe(2);
      expect(versions.join('')).toMatch(/^1+2+$/); // a v1 tail is never appended to in v2: a new segment follows it
    }
    expect(texts(dir)).toEqual(expected);
    expect(await verifyLog({ dir })).toMatchObject({ ok: true, records: expected.length });
    const log = await openLog({ dir, verify: 'all' });
    expect(log.recovery.map((r) => r.lastSeq)).toEqual([0, 1].map((s) => Math.max(...readAll(dir).filter((x) => x.shard === s).map((x) => x.seq))));
    await log.close();
  });
});

describe('format 1 to 2: an empty version-1 last segment', () => {
  it('(its header only, named for the next seq) is replaced by a version-2 segment of the same name; nothing is lost', async () => {
    const dir = logDir();
    const w = await writeLog(dir, 50, { shards: 1, testFaults: { segmentVersion: 1 } });
    const last = Math.max(...w.seqs);
    const empty = path.join(dir, '000', String(last + 1).padStart(20, '0') + '.wal');
    fs.writeFileSync(empty, encodeSegmentHeader({ version: 1, shard: 0, firstSeq: last + 1, prevMaxSeq: last }));
    const log = await openLog({ dir });
    const seq = log.append('first in format 2');
    await log.close();
    expect(seq).toBe(last + 1);
    expect(fs.readFileSync(empty).readUInt16LE(8)).toBe(2);
    const got = readAll(dir);
    expect(got).toHaveLength(51);
    expect(got.at(-1)).toMatchObject({ seq: last + 1, text: 'first in format 2' });
    expect(await verifyLog({ dir })).toMatchObject({ ok: true, records: 51 });
  });
});

describe('CRC-32C', () => {
  it('the native CRC loads here and agrees with the JavaScript one at every length and split', () => {
    expect(crc32cImplementation).toBe('native');
    const b = Buffer.alloc(5000);
    for (let i = 0; i < b.length; i++) b[i] = (i * 131 + 17) & 0xff;
    for (const n of [0, 1, 255, 256, 257, 1000, 4999, 5000]) {
      expect(crc32cRange(0, b, 0, n)).toBe(crc32c(b, 0, n));
      expect(crc32cRange(crc32cRange(0, b, 0, n >> 1), b, n >> 1, n)).toBe(crc32c(b, 0, n));
    }
    const sab = new Uint8Array(new SharedArrayBuffer(4096));
    sab.set(b.subarray(0, 4096));
    expect(crc32cRange(0, sab, 100, 4000)).toBe(crc32c(b, 100, 4000));
  });

  it('SHARDLOG_CRC=js forces the JavaScript fallback: the log it writes is the same format, read back here', async () => {
    const dir = logDir();
    const r = await runModule(
      `import { openLog } from '@shardlog/core';
import { crc32cImplementation } from '@shardlog/workers';
const log = await openLog({ dir: ${JSON.stringify(dir)}, shards: 1 });
for (let i = 0; i < 500; i++) log.append('fallback entry ' + i + ' ' + 'x'.repeat(i % 300));
await log.close();
console.log(crc32cImplementation);`,
      { SHARDLOG_CRC: 'js' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('js');
    const got = texts(dir);
    expect(got).toHaveLength(500);
    expect(got[499].text).toBe('fallback entry 499 ' + 'x'.repeat(499 % 300));
    expect(await verifyLog({ dir })).toMatchObject({ ok: true, records: 500 });
    expect(encodeSegmentHeader({ version: 2, shard: 0, firstSeq: 1, prevMaxSeq: 0 })).toHaveLength(80);
  });
});
