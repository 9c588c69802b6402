/**
 * verifyLog (piscina pool, one task per segment) and what the CLI commands print: verify, cat, tail,
 * stats, recover (their help, usage errors and exit codes: cli-usage.test.ts).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, openLog, verifyLog } from '@shardlog/core';
import { CLI, flipByte, logDir, readAll, records, runCli, segmentFiles, waitForLines, writeLog } from './helpers.js';

// These tests damage version-1 segments (records with their own CRC, as older builds wrote them, which
// every reader, recovery and verify still handle) byte by byte; files-frames.test.ts does the same to
// version-2 frames.
process.env.SHARDLOG_TEST_SEGMENT_VERSION = '1';

describe('verifyLog', () => {
  it('counts every segment, record and byte of a sound log, the same with a pool or without', async () => {
    const dir = logDir();
    await writeLog(dir, 600, { shards: 3, segmentBytes: 4096 });
    const files = [0, 1, 2].flatMap((s) => segmentFiles(dir, s));
    const pooled = await verifyLog({ dir, threads: 2 });
    expect(pooled).toMatchObject({ ok: true, shards: 3, segments: files.length, records: 600, lastSeq: 600, errors: [], torn: [] });
    expect(pooled.bytes).toBe(files.reduce((a, f) => a + fs.statSync(f).size, 0));
    expect(pooled.files.map((f) => f.file).sort()).toEqual(files.sort());
    const inline = await verifyLog({ dir, threads: 0 });
    expect(inline).toEqual(pooled);
  });

  it('names each corrupt place by file and offset, and reports a torn tail without failing', async () => {
    const dir = logDir();
    await writeLog(dir, 400, { shards: 1, segmentBytes: 4096 });
    const segs = segmentFiles(dir);
    const a = records(segs[0])[5];
    const b = records(segs[1])[7];
    flipByte(segs[0], a.offset + 30);
    flipByte(segs[1], b.offset + 9);
    const last = segs.at(-1)!;
    const size = fs.statSync(last).size;
    fs.appendFileSync(last, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const r = await verifyLog({ dir });
    expect(r.ok).toBe(false);
    expect(r.errors.map((e) => [e.file, e.offset])).toEqual([
      [segs[0], a.offset],
      [segs[1], b.offset],
    ]);
    expect(r.errors[0].reason).toMatch(/checksum mismatch; valid records resume at offset/);
    expect(r.torn).toEqual([{ file: last, shard: 0, offset: size, bytes: 9, reason: expect.any(String) }]);
    expect(r.records).toBe(398);
  });

  it('refuses what is not a framed log', async () => {
    await expect(verifyLog({ dir: path.join(logDir(), 'nothing') })).rejects.toBeInstanceOf(InvalidArgumentError);
    const dir = logDir();
    const l = await openLog({ dir, format: 'lines', shards: 1 });
    await l.close();
    await expect(verifyLog({ dir })).rejects.toThrow(/lines/);
  });
});

describe('CLI', () => {
  it('verify exits 0 on a sound log and 1 on corruption, naming file and offset', async () => {
    const dir = logDir();
    await writeLog(dir, 300, { shards: 2, segmentBytes: 4096 });
    const ok = await runCli(['verify', dir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/2 shards, \d+ segments, 300 records/);
    expect(ok.stdout.trim().endsWith('ok')).toBe(true);
    const f = segmentFiles(dir, 1)[0];
    const rec = records(f)[1];
    flipByte(f, rec.offset + 18);
    const bad = await runCli(['verify', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`CORRUPT: ${f} at offset ${rec.offset}: record checksum mismatch`);
    const json = JSON.parse((await runCli(['verify', dir, '--json', '--threads', '0'])).stdout);
    expect(json).toMatchObject({ ok: false, records: 299, errors: [{ file: f, offset: rec.offset }] });
    expect((await runCli(['verify'])).code).toBe(2);
  });

  it('stats reads shards, segments, bytes and seq ranges from the files', async () => {
    const dir = logDir();
    await writeLog(dir, 300, { shards: 2, segmentBytes: 4096 });
    const r = await runCli(['stats', dir, '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ format: 'framed', shards: 2, lock: 'not open', total: { firstSeq: 1, lastSeq: 300 } });
    for (const sh of s.perShard) {
      const files = segmentFiles(dir, sh.shard);
      expect(sh.segments).toBe(files.length);
      expect(sh.bytes).toBe(files.reduce((a: number, f: string) => a + fs.statSync(f).size, 0));
      expect(sh.lastSeq).toBe(readAll(dir).filter((e) => e.shard === sh.shard).at(-1)!.seq);
    }
    const text = await runCli(['stats', dir]);
    expect(text.stdout).toMatch(/^all\s+\d+\s+\d+\s+1\s+300\s+0$/m);
  });

  it('stats on a lines log: the last seq with one shard; with several, unknown (the files hold no seqs that tell), never a wrong number', async () => {
    for (const shards of [1, 2]) {
      const dir = logDir();
      const log = await openLog({ dir, shards, format: 'lines' });
      for (let i = 0; i < 10; i++) log.append(`line ${i}`);
      await log.close();
      const s = JSON.parse((await runCli(['stats', dir, '--json'])).stdout) as { total: { lastSeq: number | null }; perShard: { lastSeq: number | null }[] };
      const text = (await runCli(['stats', dir])).stdout;
      if (shards === 1) {
        expect(s.total.lastSeq).toBe(10);
        expect(text).toMatch(/^all\s+\d+\s+\d+\s+1\s+10\s+0$/m);
      } else {
        expect(s.total.lastSeq).toBeNull();
        expect(s.perShard.map((p) => p.lastSeq)).toEqual([null, null]);
        expect(text).toMatch(/^all\s+\d+\s+\d+\s+1\s+-\s+0$/m);
        expect(text).toContain('keeps no seqs in its files');
      }
    }
  });

  it('recover cuts a torn tail and prints the report; refuses corruption unless --skip-corrupt', async () => {
    const dir = logDir();
    await writeLog(dir, 300, { shards: 1, segmentBytes: 4096 });
    const more = await openLog({ dir, segmentBytes: 4096 });
    await more.rotate(); // a last segment of exactly 20 records
    for (let i = 0; i < 20; i++) more.append(`last segment entry ${i}`);
    await more.close();
    const last = segmentFiles(dir).at(-1)!;
    const recs = records(last);
    expect(recs.length).toBe(20);
    fs.truncateSync(last, recs.at(-1)!.offset + 3);
    const r = await runCli(['recover', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`cut 3 bytes: ${last} at offset ${recs.at(-1)!.offset}`);
    flipByte(last, recs[1].offset + 20);
    const refused = await runCli(['recover', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${last} at offset ${recs[1].offset}`);
    expect(refused.stderr).toContain('[ERR_SHARDLOG_CORRUPT]');
    const skipped = await runCli(['recover', dir, '--skip-corrupt', '--json']);
    expect(skipped.code).toBe(0);
    expect(JSON.parse(skipped.stdout)[0]).toMatchObject({ skippedRegions: 1, skippedBytes: recs[1].size });
  });

  it('cat and tail -n print entries in seq order', async () => {
    const dir = logDir();
    await writeLog(dir, 120, { shards: 3, segmentBytes: 4096 });
    const all = readAll(dir);
    const cat = await runCli(['cat', dir, '--from', '100']);
    expect(cat.stdout.trim().split('\n')).toEqual(all.filter((e) => e.seq >= 100).map((e) => e.text));
    const tail = await runCli(['tail', dir, '-n', '5', '--json']);
    expect(tail.stdout.trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([116, 117, 118, 119, 120]);
  });

  it('tail -f follows a log written by another process', async () => {
    const dir = logDir();
    await writeLog(dir, 10, { shards: 2 });
    const child = spawn(process.execPath, [CLI, 'tail', '-f', dir, '-n', '2', '--json', '--interval', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const first = await waitForLines(child, (l) => l.length >= 2);
      expect(first.map((l) => JSON.parse(l).seq)).toEqual([9, 10]);
      const live = waitForLines(child, (l) => l.filter((x) => x.includes('live ')).length >= 50); // listen before anything is written
      // the writer here is another process as far as the tail is concerned: it only sees the files
      const log = await openLog({ dir });
      const want = new Map<number, string>();
      for (let i = 0; i < 50; i++) want.set(log.append(`live ${i}`), `live ${i}`);
      await log.durable();
      const got = (await live).map((l) => JSON.parse(l) as { seq: number; shard: number; text: string });
      await log.close();
      // each entry once, with its bytes; each shard in order (across shards: see tail --help)
      expect(new Map(got.map((e) => [e.seq, e.text]))).toEqual(want);
      expect(got.length).toBe(50);
      for (const s of [0, 1]) {
        const seqs = got.filter((e) => e.shard === s).map((e) => e.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    } finally {
      child.kill();
    }
  });
});
