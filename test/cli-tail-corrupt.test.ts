/**
 * `shardlog tail` on a damaged log: a middle segment deleted or cut (each segment header names the
 * previous segment's last seq, so the gap shows), or a corrupt frame in one shard of two. tail -f
 * (which polls the files through ShardCursor) exits non-zero with the CorruptLogError, and never
 * prints an entry with a seq above the damage first: a consumer that resumes after the last seq it
 * printed must not pass over it. What it does print is what `cat` prints before the same error.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openLog, type Log } from '@shardlog/core';
import { CLI, flipByte, logDir, records, runCli, segmentFiles } from './helpers.js';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI; a run still going after ms is killed (signal SIGKILL): a tail that hangs fails the test, not the suite. */
function runCliWithin(args: string[], ms: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * `tail -f` and plain `tail` from seq 1 on `dir`: each must stop by itself with exit code 1 and print
 * what `cat` prints before the same error. Returns each run's stderr and printed seqs.
 */
async function tailsStop(dir: string): Promise<{ stderr: string; printed: number[] }[]> {
  const cat = await runCli(['cat', dir, '--json']);
  expect(cat.code).toBe(1);
  const out: { stderr: string; printed: number[] }[] = [];
  for (const args of [
    ['tail', '-f', dir, '--from', '1', '--json', '--interval', '20'],
    ['tail', dir, '--from', '1', '--json'],
  ]) {
    const r = await runCliWithin(args, 15_000);
    expect(r.signal, `${args.join(' ')} is still running`).toBeNull();
    expect(r.code).toBe(1);
    const printed = seqs(r.stdout);
    expect(printed.length).toBeGreaterThan(0);
    expect(printed).toEqual(seqs(cat.stdout)); // the entries before the damage, in seq order, as cat prints them
    out.push({ stderr: r.stderr, printed });
  }
  return out;
}

function seqs(stdout: string): number[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

/** Append `n` entries (to `shard`, or round robin), one frame per shard each time (a durable() after each). */
async function appendFrames(log: Log, n: number, shard?: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const text = `entry ${i} ` + 'q'.repeat(30 + ((i * 11) % 40));
    out.push(shard === undefined ? log.append(text) : log.appendTo(shard, text));
    if (i % 2 === 1) await log.durable();
  }
  await log.durable();
  return out;
}

/** A closed log of four segments per shard (rotate() between them); each segment's seqs, per shard. */
async function fourSegments(shards: number): Promise<{ dir: string; bySegment: number[][] }> {
  const dir = logDir();
  const log = await openLog({ dir, shards });
  const bySegment: number[][] = [];
  for (let s = 0; s < 4; s++) {
    bySegment.push(await appendFrames(log, 12 * shards));
    if (s < 3) await log.rotate();
  }
  await log.close();
  for (let sh = 0; sh < shards; sh++) expect(segmentFiles(dir, sh).length).toBe(4);
  return { dir, bySegment };
}

describe.each(['delete', 'truncate'] as const)('tail -f over a %s middle segment', (mode) => {
  it('exits non-zero naming the segment after the gap, and prints nothing past the gap', async () => {
    const { dir, bySegment } = await fourSegments(1);
    const files = segmentFiles(dir);
    let lost: number[];
    if (mode === 'delete') {
      fs.rmSync(files[1]);
      lost = bySegment[1];
    } else {
      const frames = [...new Set(records(files[1]).map((r) => r.frameStart!))];
      expect(frames.length).toBeGreaterThan(3);
      fs.truncateSync(files[1], frames[2]); // its header and two whole frames stay
      lost = bySegment[1].filter((s) => !records(files[1]).some((r) => r.seq === s));
    }
    expect(lost.length).toBeGreaterThan(0);
    for (const r of await tailsStop(dir)) {
      expect(r.stderr).toContain(`corrupt log: ${files[2]} at offset 0: header says the previous segment ended at seq`);
      expect(r.stderr).toMatch(/a segment is missing or was cut \[ERR_SHARDLOG_CORRUPT\]/);
      expect(r.printed.every((s) => s < lost[0])).toBe(true);
    }
  });
});

describe('tail -f with a corrupt frame in one shard of two', () => {
  it('prints no entry of the other shard above the corrupt frame, and exits non-zero naming it', async () => {
    const { dir } = await fourSegments(2);
    const file = segmentFiles(dir, 0)[1]; // a middle segment of shard 0: its frames were all synced
    const recs = records(file);
    const frames = [...new Set(recs.map((r) => r.frameStart!))];
    expect(frames.length).toBeGreaterThan(4);
    const bad = frames[Math.floor(frames.length / 2)];
    const inBad = recs.filter((r) => r.frameStart === bad);
    flipByte(file, inBad[0].offset + 16); // the first payload byte of the frame's first record
    const lostFirst = inBad[0].seq;
    // shard 1 has many entries above the damage
    const shard1 = records(segmentFiles(dir, 1).at(-1)!).map((r) => r.seq);
    expect(shard1.some((s) => s > lostFirst)).toBe(true);

    for (const r of await tailsStop(dir)) {
      expect(r.stderr).toContain(`corrupt log: ${file} at offset ${bad}: frame checksum mismatch`);
      expect(Math.max(...r.printed)).toBeLessThan(lostFirst);
    }
  });
});
