/**
 * The segment scanner and its callers: typed verdicts across chunk boundaries, readers beside a live
 * writer, verify beside retention, and recovery that never removes a file it did not write.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogFormatError, openLog, readLogSync, ShardCursor, verifyLog } from '@shardlog/core';
import { encodeSegmentHeader, scanLineSegment, SegmentScanner, verifySegment, type ScanVerdict, type SegmentRef } from '@shardlog/workers';
import { logDir, readAll, records, runCli, segmentFiles, waitForLines, writeLog } from './helpers.js';

// These tests damage version-1 segments (records with their own CRC, as older builds wrote them, which
// every reader, recovery and verify still handle) byte by byte; files-frames.test.ts does the same to
// version-2 frames.
process.env.SHARDLOG_TEST_SEGMENT_VERSION = '1';

const ref = (file: string, shard = 0): SegmentRef => ({ file, shard, firstSeq: Number(path.basename(file).slice(0, 20)) });

/** Every record a scanner yields, then its verdict. */
function scan(file: string, opts: { last?: boolean; chunkBytes?: number } = {}): { seqs: number[]; verdict: ScanVerdict } {
  const sc = new SegmentScanner(ref(file), opts);
  const seqs: number[] = [];
  try {
    while (sc.next()) seqs.push(sc.seq);
    return { seqs, verdict: sc.verdict! };
  } finally {
    sc.close();
  }
}

/** A one-shard log whose only segment holds `n` records. */
async function oneSegment(n: number): Promise<{ dir: string; file: string }> {
  const dir = logDir();
  const log = await openLog({ dir, shards: 1 });
  for (let i = 0; i < n; i++) log.append(`record ${i} ` + 'p'.repeat((i * 13) % 90));
  await log.close();
  return { dir, file: segmentFiles(dir)[0] };
}

describe('SegmentScanner verdicts', () => {
  it('clean, torn, hole and corrupt, the same with chunks far smaller than the damage', async () => {
    const { file } = await oneSegment(200);
    const recs = records(file);
    const orig = fs.readFileSync(file);
    for (const chunkBytes of [16, 100, 4096, 1 << 20]) {
      fs.writeFileSync(file, orig);
      expect(scan(file, { chunkBytes })).toEqual({ seqs: recs.map((r) => r.seq), verdict: { kind: 'clean', offset: orig.length } });

      // a zero-filled hole of many records, valid records after it: torn at the hole
      const b = Buffer.from(orig);
      b.fill(0, recs[50].offset, recs[150].offset);
      fs.writeFileSync(file, b);
      const hole = scan(file, { chunkBytes });
      expect(hole.seqs).toEqual(recs.slice(0, 50).map((r) => r.seq));
      expect(hole.verdict).toMatchObject({ kind: 'torn', offset: recs[50].offset, bytes: orig.length - recs[50].offset, hole: true, reason: { code: 'bad-length' } });

      // one byte set inside that hole: valid records after non-zero bytes are corruption
      b[recs[120].offset + 3] = 7;
      fs.writeFileSync(file, b);
      const bad = scan(file, { chunkBytes });
      expect(bad.verdict).toMatchObject({ kind: 'corrupt', offset: recs[50].offset, resumeAt: recs[150].offset, bytes: recs[150].offset - recs[50].offset });
      expect((bad.verdict as { reason: { message: string } }).reason.message).toBe(`record length is impossible; valid records resume at offset ${recs[150].offset}`);

      // the same bytes in a segment that is not the shard's last: corrupt, whatever follows
      fs.writeFileSync(file, orig.subarray(0, recs[199].offset + 5));
      expect(scan(file, { chunkBytes }).verdict).toMatchObject({ kind: 'torn', offset: recs[199].offset, reason: { code: 'short', message: 'record runs past the end of the file' } });
      expect(scan(file, { chunkBytes, last: false }).verdict).toMatchObject({ kind: 'corrupt', offset: recs[199].offset, resumeAt: -1, bytes: 5 });
    }
  });

  it('removed and unfinished are verdicts, not errors', async () => {
    const { dir } = await oneSegment(3);
    const next = path.join(dir, '000', '00000000000000000004.wal');
    const sc = new SegmentScanner(ref(next));
    expect(sc.verdict).toEqual({ kind: 'removed' });
    expect(sc.next()).toBe(false);
    fs.writeFileSync(next, encodeSegmentHeader({ version: 1, shard: 0, firstSeq: 4, prevMaxSeq: 3 }).subarray(0, 17));
    expect(new SegmentScanner(ref(next)).verdict).toEqual({ kind: 'unfinished' });
    expect(() => new SegmentScanner(ref(next), { last: false })).toThrow(LogFormatError);
    expect(verifySegment({ ...ref(next), isLast: false }).errors).toEqual([expect.objectContaining({ offset: 0, kind: 'format' })]);
    fs.rmSync(next);
    expect(verifySegment({ ...ref(next), isLast: false })).toMatchObject({ removed: true, errors: [], records: 0 });
  });
});

describe("follow's cursor", () => {
  it('stays on a half-written record (not an error), and names a corrupt one via diagnose()', async () => {
    const { dir, file } = await oneSegment(20);
    const recs = records(file);
    const orig = fs.readFileSync(file);
    fs.writeFileSync(file, orig.subarray(0, recs[15].offset + 9)); // record 15 half written
    const c = new ShardCursor(dir, 0, 0);
    const seqs: number[] = [];
    for (let e = c.next(Number.MAX_SAFE_INTEGER, 0); e; e = c.next(Number.MAX_SAFE_INTEGER, 0)) seqs.push(e.seq);
    expect(seqs).toEqual(recs.slice(0, 15).map((r) => r.seq));
    expect(c.stuck).toMatchObject({ file, offset: recs[15].offset, reason: 'record runs past the end of the file' });
    expect(c.diagnose()).toBeUndefined();
    fs.writeFileSync(file, orig); // the writer finished it
    const rest: number[] = [];
    for (let e = c.next(Number.MAX_SAFE_INTEGER, 0); e; e = c.next(Number.MAX_SAFE_INTEGER, 0)) rest.push(e.seq);
    expect(rest).toEqual(recs.slice(15).map((r) => r.seq));
    expect(c.stuck).toBeUndefined();
    c.close();

    const b = Buffer.from(orig);
    b[recs[5].offset + 20] ^= 1;
    fs.writeFileSync(file, b);
    const d = new ShardCursor(dir, 0, 0);
    while (d.next(Number.MAX_SAFE_INTEGER, 0));
    expect(d.stuck).toMatchObject({ file, offset: recs[5].offset });
    expect(d.diagnose()).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file, offset: recs[5].offset });
    d.close();
  });
});

describe('lines segments', () => {
  it('lines and the last newline are found across chunks; recovery cuts the unfinished line', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, format: 'lines' });
    for (let i = 0; i < 50; i++) log.append(`line ${i} ` + 'l'.repeat(i));
    await log.close();
    const file = segmentFiles(dir)[0];
    const whole = fs.statSync(file).size;
    fs.appendFileSync(file, 'half a li');
    for (const chunk of [1, 7, 4096]) expect(scanLineSegment(file, chunk)).toEqual({ exists: true, size: whole + 9, lines: 50, end: whole });
    expect(scanLineSegment(file + '.gone')).toMatchObject({ exists: false });
    const again = await openLog({ dir, format: 'lines' });
    expect(again.recovery[0]).toMatchObject({ lines: 50, bytesCut: 9, cutOffset: whole, tail: { size: whole, maxSeq: 50 } });
    await again.close();
  });
});

describe('records larger than a chunk', () => {
  it('a 6 MiB record is checked by a streaming CRC: read back, recovered and verified; a flipped byte in it is found', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 16 << 20 });
    const big = Buffer.alloc(6 << 20, 0x61);
    big[123456] = 0x62;
    log.append('before');
    log.append(big);
    log.append('after');
    await log.close();
    const got = [...readLogSync({ dir })].map((e) => ({ seq: e.seq, data: Buffer.from(e.data) }));
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(got[1].data.equals(big)).toBe(true);
    const again = await openLog({ dir });
    expect(again.recovery[0]).toMatchObject({ records: 3, lastSeq: 3, bytesCut: 0 });
    await again.close();
    expect(await verifyLog({ dir, threads: 0 })).toMatchObject({ ok: true, records: 3 });

    const file = segmentFiles(dir)[0];
    const recs = records(file);
    const b = fs.readFileSync(file);
    b[recs[1].offset + 5_000_000] ^= 1;
    fs.writeFileSync(file, b);
    expect(() => readAll(dir)).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_CORRUPT', file, offset: recs[1].offset }));
    const v = await verifyLog({ dir, threads: 0 });
    expect(v.errors).toEqual([expect.objectContaining({ file, offset: recs[1].offset, reason: `record checksum mismatch; valid records resume at offset ${recs[2].offset}` })]);
    expect(scan(file).verdict).toMatchObject({ kind: 'corrupt', offset: recs[1].offset, resumeAt: recs[2].offset });
  });
});

describe('readers beside a live writer', () => {
  it('readLog while another process appends: never a CorruptLogError, every entry in order', async () => {
    const dir = logDir();
    const child = spawn(process.execPath, [path.join(import.meta.dirname, 'fixtures', 'live-writer.mjs'), dir, '3000', '16384'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let done = false;
    const finished = waitForLines(child, (l) => l.some((x) => x.startsWith('done'))).then((l) => {
      done = true;
      return l;
    });
    try {
      await waitForLines(child, (l) => l.includes('ready'));
      // mostly short reads of the newest entries (each one opens the segment being written, where a
      // record may be half written), now and then a whole pass
      let passes = 0;
      let last = 0;
      while (!done) {
        let prev = 0;
        const fromSeq = passes % 400 === 0 ? 0 : Math.max(0, last - 20);
        for (const e of readLogSync({ dir, fromSeq })) {
          expect(e.seq).toBeGreaterThan(prev);
          expect(e.text().startsWith(`${e.seq}:`)).toBe(true);
          prev = e.seq;
        }
        last = Math.max(last, prev);
        passes++;
        if (passes % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      const lines = await finished;
      const n = Number(lines.find((x) => x.startsWith('done'))!.split(' ')[1]);
      expect(passes).toBeGreaterThan(20);
      expect(last).toBeGreaterThan(0);
      expect(readAll(dir).map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    } finally {
      child.kill();
    }
  });
});

describe('verify beside retention', () => {
  it('a segment removed while verifyLog runs is counted in removed, not an error; the CLI exits 0', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, segmentBytes: 4096 });
    for (let i = 0; i < 1500; i++) {
      log.append(`entry ${i} ` + 'v'.repeat(i % 70));
      if (i % 100 === 99) await log.durable();
    }
    await log.durable();
    const before = [0, 1].flatMap((s) => segmentFiles(dir, s)).length;
    const running = verifyLog({ dir, threads: 1 }); // lists the segments now, checks them later in a pool
    const cut = await log.truncateBefore(log.nextSeq - 200);
    expect(cut.removed.length).toBeGreaterThan(4);
    const r = await running;
    expect(r).toMatchObject({ ok: true, errors: [], removed: cut.removed.length, segments: before - cut.removed.length });
    expect(r.files.map((f) => f.file)).not.toContain(cut.removed[0].file);
    await log.close();

    // the CLI: verify in a child process while this one keeps removing segments
    const again = await openLog({ dir, segmentBytes: 4096 });
    for (let i = 0; i < 3000; i++) again.append(`more ${i} ` + 'w'.repeat(i % 70));
    await again.durable();
    const cli = runCli(['verify', dir, '--json', '--threads', '1']);
    for (let k = 0; k < 40; k++) {
      await again.truncateBefore(again.nextSeq - 3000 + k * 70);
      await new Promise((res) => setTimeout(res, 5));
    }
    const out = await cli;
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ ok: true, errors: [] });
    await again.close();
  });
});

describe('recovery never removes a file it did not write', () => {
  async function withLast(content: Buffer): Promise<{ dir: string; extra: string; seqs: number[] }> {
    const dir = logDir();
    const w = await writeLog(dir, 30, { shards: 1 });
    const extra = path.join(dir, '000', String(w.seqs.at(-1)! + 1).padStart(20, '0') + '.wal');
    fs.writeFileSync(extra, content);
    return { dir, extra, seqs: w.seqs };
  }

  it('a short last segment that is not the start of our header is a LogFormatError naming it, and stays', async () => {
    for (const content of [Buffer.from('hello'), Buffer.from('SHARDLOX'), Buffer.from('SHARDLOG\x07'), Buffer.from([0, 0, 0, 9])]) {
      const { dir, extra } = await withLast(content);
      const err = await openLog({ dir }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LogFormatError);
      expect(err).toMatchObject({ code: 'ERR_SHARDLOG_FORMAT', file: extra });
      expect(fs.readFileSync(extra)).toEqual(content);
      expect(() => readAll(dir)).toThrow(LogFormatError);
      const v = await verifyLog({ dir, threads: 0 });
      expect(v.errors).toEqual([expect.objectContaining({ file: extra, offset: 0 })]);
    }
  });

  it('0 bytes, zeros, or a prefix of the header we would have written: ours, removed', async () => {
    for (const make of [() => Buffer.alloc(0), () => Buffer.alloc(23), (seq: number) => encodeSegmentHeader({ version: 1, shard: 0, firstSeq: seq, prevMaxSeq: 30 }).subarray(0, 31)]) {
      const { dir, extra, seqs } = await withLast(Buffer.from(make(0)));
      fs.writeFileSync(extra, make(seqs.at(-1)! + 1));
      expect(readAll(dir).length).toBe(30);
      const log = await openLog({ dir });
      expect(log.recovery[0].removedFiles).toEqual([extra]);
      await log.close();
      expect(fs.existsSync(extra)).toBe(false);
    }
  });
});

describe('shardlog stats', () => {
  it('with an unfinished last segment, the last seq is the one before it\'s highest (regression)', async () => {
    const dir = logDir();
    const w = await writeLog(dir, 200, { shards: 1, segmentBytes: 4096 });
    expect(segmentFiles(dir).length).toBeGreaterThan(2);
    fs.writeFileSync(path.join(dir, '000', String(w.seqs.at(-1)! + 1).padStart(20, '0') + '.wal'), Buffer.alloc(0));
    const r = await runCli(['stats', dir, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).perShard[0]).toMatchObject({ lastSeq: 200, tornBytes: 0 });
  });
});
