/**
 * Readers on a log with a corrupt frame in the middle of a segment, the way it comes about for real:
 * a byte flipped in a closed log, openLog({ skipCorrupt: true }) recovers past it, and more entries
 * are appended and acknowledged after it. Without skipCorrupt every reader (readLog, readLogSync,
 * follow(), `shardlog cat`) stops at it with a CorruptLogError naming file and offset (follow() within
 * a bounded time: it never waits forever); with it, each yields exactly the entries before the
 * corrupt frame and every entry after it, and reports the region skipped. Bad bytes that can only
 * hold seqs below fromSeq do not stop a reader either way.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, InvalidArgumentError, openLog, readLog, readLogSync, type Log, type LogEntry, type ReadOptions } from '@shardlog/core';
import { CLI, flipByte, logDir, payload, records, runCli, segmentFiles, writeLog } from './helpers.js';

type Region = Parameters<NonNullable<ReadOptions['onSkip']>>[0];

interface Damaged {
  dir: string;
  file: string;
  /** The corrupt frame: where it starts, its bytes. */
  bad: { offset: number; bytes: number };
  /** seq -> text of every entry acknowledged (written before the damage, or appended after recovery). */
  bySeq: Map<number, string>;
  /** The seqs the corrupt frame held (lost). */
  lost: number[];
  /** Everything else, in seq order: what a reader that skips the frame yields. */
  kept: number[];
}

async function appendSome(log: Log, from: number, to: number, shards: number, bySeq: Map<number, string>): Promise<void> {
  for (let i = from; i < to; i++) {
    const text = payload(i);
    bySeq.set(shards > 1 ? log.appendTo(i % shards, text) : log.append(text), text);
    if (i % 10 === 9) await log.durable(); // one batch, so one frame, every 10 entries
  }
  await log.durable();
}

/**
 * A log whose shard 0 has a corrupt frame in the middle of its (only) segment, recovered past with
 * skipCorrupt, with 40 entries appended after that recovery; closed.
 */
async function damaged(shards = 1): Promise<Damaged> {
  const dir = logDir();
  const bySeq = new Map<number, string>();
  let log = await openLog({ dir, shards, sync: 'none' });
  await appendSome(log, 0, 300, shards, bySeq);
  await log.close();
  const file = segmentFiles(dir, 0).at(-1)!;
  const recs = records(file);
  const frames = [...new Set(recs.map((r) => r.frameStart!))];
  expect(frames.length).toBeGreaterThan(8);
  // the frame nearest the middle that holds two entries or more (the writer may take a batch of 10 in
  // parts, so a frame of one entry can happen; the tests read from inside the frame)
  const byDistance = frames.map((f, i) => ({ f, d: Math.abs(i - frames.length / 2) })).sort((a, b) => a.d - b.d);
  const mid = byDistance.find(({ f }) => recs.filter((r) => r.frameStart === f).length >= 2)!.f;
  const inMid = recs.filter((r) => r.frameStart === mid);
  expect(inMid.length).toBeGreaterThanOrEqual(2);
  const bad = { offset: mid, bytes: inMid[0].frameEnd! - mid };
  flipByte(file, inMid[0].offset + 16); // the first payload byte of the frame's first record
  await expect(openLog({ dir })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file, offset: bad.offset });
  log = await openLog({ dir, skipCorrupt: true });
  expect(log.recovery[0]).toMatchObject({ skippedRegions: 1, skippedBytes: bad.bytes, bytesCut: 0 });
  await appendSome(log, 300, 340, shards, bySeq);
  await log.close();
  const lost = inMid.map((r) => r.seq);
  const kept = [...bySeq.keys()].filter((s) => !lost.includes(s)).sort((a, b) => a - b);
  return { dir, file, bad, bySeq, lost, kept };
}

/** seq and bytes of each entry. */
function seen(entries: Iterable<LogEntry>): { seq: number; text: string }[] {
  return [...entries].map((e) => ({ seq: e.seq, text: Buffer.from(e.data).toString('utf8') }));
}

function expected(d: Damaged, seqs: number[]): { seq: number; text: string }[] {
  return seqs.map((seq) => ({ seq, text: d.bySeq.get(seq)! }));
}

/** Resolves with what `p` settles to, or rejects after ms: a hang fails the test instead of timing it out. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Drain `it` into `out` until it yields seq `last` (then stop it) or ends or throws. */
async function followUntil(it: AsyncGenerator<LogEntry>, last: number, out: { seq: number; text: string }[]): Promise<void> {
  for await (const e of it) {
    out.push({ seq: e.seq, text: e.text() });
    if (e.seq >= last) return;
  }
}

describe('readLog on a log with a corrupt frame recovery skipped', () => {
  it('without skipCorrupt: the entries before it, then CorruptLogError naming file and offset (sync and async)', async () => {
    const d = await damaged();
    const before = d.kept.filter((s) => s < d.lost[0]);
    const got: LogEntry[] = [];
    let err: unknown;
    try {
      for (const e of readLogSync({ dir: d.dir })) got.push(e);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptLogError);
    expect(err).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: d.file, offset: d.bad.offset });
    expect(seen(got)).toEqual(expected(d, before));
    await expect(async () => {
      for await (const e of readLog({ dir: d.dir, skipCorrupt: false })) void e;
    }).rejects.toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: d.file, offset: d.bad.offset });
  });

  it('with skipCorrupt: exactly the entries before it and every entry after it, acknowledged ones too; the region reported once', async () => {
    const d = await damaged();
    expect(d.kept.at(-1)).toBe(Math.max(...d.bySeq.keys())); // appended after the recovery, and read back
    const regions: Region[] = [];
    const sync = seen(readLogSync({ dir: d.dir, skipCorrupt: true, onSkip: (r) => regions.push(r) }));
    expect(sync).toEqual(expected(d, d.kept));
    expect(regions).toEqual([{ shard: 0, file: d.file, offset: d.bad.offset, bytes: d.bad.bytes, reason: expect.stringMatching(/checksum/) }]);
    const got: { seq: number; text: string }[] = [];
    for await (const e of readLog({ dir: d.dir, skipCorrupt: true, chunkBytes: 512 })) got.push({ seq: e.seq, text: e.text() });
    expect(got).toEqual(expected(d, d.kept));
    // the region is reported before the first entry after it
    const order: string[] = [];
    for (const e of readLogSync({ dir: d.dir, skipCorrupt: true, onSkip: () => order.push('skip') })) if (e.seq === d.lost[0] - 1 || e.seq === d.lost.at(-1)! + 1) order.push(String(e.seq));
    expect(order).toEqual([String(d.lost[0] - 1), 'skip', String(d.lost.at(-1)! + 1)]);
  });

  it('fromSeq past the corrupt frame reads on without skipCorrupt; fromSeq the frame may hold is still an error', async () => {
    const d = await damaged();
    const firstAfter = d.lost.at(-1)! + 1;
    expect(seen(readLogSync({ dir: d.dir, fromSeq: firstAfter }))).toEqual(expected(d, d.kept.filter((s) => s >= firstAfter)));
    const appended = Math.max(...d.bySeq.keys()) - 39;
    expect(seen(readLogSync({ dir: d.dir, fromSeq: appended }))).toEqual(expected(d, d.kept.filter((s) => s >= appended)));
    for (const fromSeq of [d.lost[0], d.lost.at(-1)!, 1]) {
      expect(() => [...readLogSync({ dir: d.dir, fromSeq })], `fromSeq ${fromSeq}`).toThrow(CorruptLogError);
    }
    // and with skipCorrupt from inside the frame: what follows it
    expect(seen(readLogSync({ dir: d.dir, fromSeq: d.lost[1], skipCorrupt: true }))).toEqual(expected(d, d.kept.filter((s) => s >= d.lost[1])));
  });

  it('two shards: skipCorrupt merges the rest of both in seq order', async () => {
    const d = await damaged(2);
    const got = seen(readLogSync({ dir: d.dir, skipCorrupt: true }));
    expect(got).toEqual(expected(d, d.kept));
    expect(new Set(got.map((e) => e.seq % 2)).size).toBe(2); // both shards were read
    expect(() => [...readLogSync({ dir: d.dir })]).toThrow(CorruptLogError);
    // shard 1 alone has no damage
    expect(seen(readLogSync({ dir: d.dir, shards: [1] })).length).toBe(170);
  });

  it('a missing middle segment: CorruptLogError without skipCorrupt; with it, every entry of the other segments and the gap reported', async () => {
    const dir = logDir();
    const w = await writeLog(dir, 300, { segmentBytes: 4096 });
    const segs = segmentFiles(dir);
    expect(segs.length).toBeGreaterThan(3);
    const gone = new Set(records(segs[1]).map((r) => r.seq));
    fs.rmSync(segs[1]);
    expect(() => [...readLogSync({ dir })]).toThrow(/a segment is missing/);
    const regions: Region[] = [];
    const got = [...readLogSync({ dir, skipCorrupt: true, onSkip: (r) => regions.push(r) })].map((e) => [e.seq, e.text()]);
    expect(got).toEqual(w.seqs.filter((s) => !gone.has(s)).map((s) => [s, w.bySeq.get(s)]));
    expect(regions).toEqual([{ shard: 0, file: segs[2], offset: 0, bytes: 0, reason: expect.stringMatching(/a segment is missing/) }]);
  });

  it('skipCorrupt and onSkip are checked', async () => {
    const dir = logDir();
    await writeLog(dir, 5);
    const bad: Record<string, unknown>[] = [{ skipCorrupt: 'yes' }, { skipCorrupt: 1 }, { skipCorrupt: true, onSkip: 'log' }, { onSkip: () => {} }, { skipCorrupt: false, onSkip: () => {} }];
    for (const o of bad) expect(() => [...readLogSync({ dir, ...o } as ReadOptions)], JSON.stringify(o)).toThrow(InvalidArgumentError);
    expect([...readLogSync({ dir, skipCorrupt: true })].length).toBe(5);
  });
});

describe('follow() on a log with a corrupt frame recovery skipped', () => {
  it('from before it, without skipCorrupt: the entries before it, then CorruptLogError within a bounded time (no hang)', async () => {
    const d = await damaged();
    const log = await openLog({ dir: d.dir, skipCorrupt: true });
    try {
      const got: { seq: number; text: string }[] = [];
      const t0 = Date.now();
      const err = await within(
        followUntil(log.follow({ fromSeq: 1 }), Number.MAX_SAFE_INTEGER, got).then(
          () => undefined,
          (e: unknown) => e,
        ),
        15_000,
        'follow',
      );
      expect(err).toBeInstanceOf(CorruptLogError);
      expect(err).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: d.file, offset: d.bad.offset });
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(got).toEqual(expected(d, d.kept.filter((s) => s < d.lost[0])));
    } finally {
      await log.close();
    }
  });

  it('of new entries (the default fromSeq) or from past it: the entries, no error', async () => {
    const d = await damaged();
    const log = await openLog({ dir: d.dir, skipCorrupt: true });
    try {
      const firstAfter = d.lost.at(-1)! + 1;
      const fromPast: { seq: number; text: string }[] = [];
      const fresh: { seq: number; text: string }[] = [];
      const a = followUntil(log.follow({ fromSeq: firstAfter }), Number.MAX_SAFE_INTEGER, fromPast);
      const b = followUntil(log.follow(), Number.MAX_SAFE_INTEGER, fresh);
      const more = new Map<number, string>();
      for (let i = 0; i < 25; i++) more.set(log.append(`live ${i}`), `live ${i}`);
      await log.durable();
      await log.close();
      await within(Promise.all([a, b]), 15_000, 'follow');
      const all = new Map([...d.bySeq, ...more]);
      expect(fromPast).toEqual([...d.kept.filter((s) => s >= firstAfter), ...more.keys()].map((seq) => ({ seq, text: all.get(seq) })));
      expect(fresh).toEqual([...more].map(([seq, text]) => ({ seq, text })));
    } finally {
      await log.close();
    }
  });

  it('with skipCorrupt: the entries before it, the region reported, then every entry after it and new ones, in order (two shards)', async () => {
    const d = await damaged(2);
    const log = await openLog({ dir: d.dir, skipCorrupt: true });
    try {
      const got: { seq: number; text: string }[] = [];
      const regions: Region[] = [];
      const at = { skipped: -1 };
      const more = new Map<number, string>();
      for (let i = 0; i < 20; i++) more.set(log.appendTo(i % 2, `live ${i}`), `live ${i}`);
      const last = Math.max(...more.keys());
      const it = log.follow({ fromSeq: 1, skipCorrupt: true, onSkip: (r) => (regions.push(r), (at.skipped = got.length)) });
      await log.durable();
      await within(followUntil(it, last, got), 15_000, 'follow with skipCorrupt');
      const all = new Map([...d.bySeq, ...more]);
      expect(got).toEqual([...d.kept, ...more.keys()].map((seq) => ({ seq, text: all.get(seq) })));
      expect(regions).toEqual([{ shard: 0, file: d.file, offset: d.bad.offset, bytes: d.bad.bytes, reason: expect.stringMatching(/checksum/) }]);
      // reported before any entry after it (of its shard: the other's interleave)
      expect(got.slice(0, at.skipped).every((e) => e.seq < d.lost[0])).toBe(true);
      expect(got[at.skipped - 1].seq).toBe(d.lost[0] - 2); // shard 0's last entry before it (its seqs are every other one) came first
      // without it the same follow stops at the region, never running on with the other shard past it
      const upTo: { seq: number; text: string }[] = [];
      await expect(within(followUntil(log.follow({ fromSeq: 1 }), last, upTo), 15_000, 'follow')).rejects.toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: d.file, offset: d.bad.offset });
      expect(upTo).toEqual(expected(d, d.kept.filter((s) => s <= d.lost[0] - 2)));
      // follow's options are checked
      expect(() => log.follow({ fromseq: 1 } as never)).toThrow(InvalidArgumentError);
      expect(() => log.follow({ onSkip: () => {} })).toThrow(InvalidArgumentError);
      expect(() => log.follow({ skipCorrupt: 'yes' } as never)).toThrow(InvalidArgumentError);
    } finally {
      await log.close();
    }
  });
});

describe('shardlog cat on a log with a corrupt frame recovery skipped', () => {
  it('fails naming file and offset; --skip-corrupt prints every other entry and the region on stderr', async () => {
    const d = await damaged();
    const plain = await runCli(['cat', d.dir]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain(`${d.file} at offset ${d.bad.offset}`);
    expect(plain.stdout.split('\n').filter(Boolean)).toEqual(d.kept.filter((s) => s < d.lost[0]).map((s) => d.bySeq.get(s)));
    const skip = await runCli(['cat', d.dir, '--skip-corrupt', '--json']);
    expect(skip.code).toBe(0);
    expect(skip.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { seq: number; text: string })).toEqual(d.kept.map((seq) => ({ seq, shard: 0, text: d.bySeq.get(seq) })));
    expect(skip.stderr.split('\n')).toEqual([expect.stringMatching(/^shardlog cat: skipped \d+ corrupt bytes: .* at offset \d+: .*checksum/), '']);
    expect(skip.stderr).toContain(`skipped ${d.bad.bytes} corrupt bytes: ${d.file} at offset ${d.bad.offset}: `);
    expect((await runCli(['cat', '--help'])).stdout).toMatch(/--skip-corrupt/);
  });
});

/** `shardlog tail -f ARGS`, stopped (SIGTERM) once it printed seq `last`, or killed after ms; its stdout lines and stderr. */
function tailFollowUntil(args: string[], last: number, ms: number): Promise<{ lines: string[]; stderr: string; sawLast: boolean }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, 'tail', '-f', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sawLast = false;
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!sawLast && stdout.split('\n').some((l) => l !== '' && (JSON.parse(l) as { seq: number }).seq >= last)) {
        sawLast = true;
        p.kill('SIGTERM');
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(timer);
      resolve({ lines: stdout.split('\n').filter(Boolean), stderr, sawLast });
    });
  });
}

describe('shardlog tail --skip-corrupt', () => {
  const asJson = (d: Damaged, seqs: number[]) => seqs.map((seq) => ({ seq, text: d.bySeq.get(seq) }));
  const printed = (lines: string[]) => lines.map((l) => JSON.parse(l) as { seq: number; text: string }).map(({ seq, text }) => ({ seq, text }));

  it('tail (the last N, or --from) prints what cat --skip-corrupt prints, and the region once on stderr', async () => {
    const d = await damaged();
    const region = `shardlog tail: skipped ${d.bad.bytes} corrupt bytes: ${d.file} at offset ${d.bad.offset}: `;
    for (const args of [['--from', '1'], ['-n', '1000'], ['-n', String(d.kept.length - d.kept.indexOf(d.lost[0] - 1))]]) {
      const r = await runCli(['tail', d.dir, '--json', '--skip-corrupt', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      const want = args[0] === '--from' || args[1] === '1000' ? d.kept : d.kept.slice(d.kept.indexOf(d.lost[0] - 1));
      expect(printed(r.stdout.split('\n').filter(Boolean)), args.join(' ')).toEqual(asJson(d, want));
      expect(r.stderr.split('\n').filter(Boolean), args.join(' ')).toEqual([expect.stringContaining(region)]);
    }
    // without it, the same tail stops at the damage (exit 1, naming it)
    const plain = await runCli(['tail', d.dir, '--json', '-n', '1000']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain(`${d.file} at offset ${d.bad.offset}`);
    expect((await runCli(['tail', '--help'])).stdout).toMatch(/--skip-corrupt/);
  });

  it('tail -f over two shards prints every other entry in seq order, the region once', async () => {
    const d = await damaged(2);
    const last = d.kept.at(-1)!;
    const r = await tailFollowUntil([d.dir, '--from', '1', '--json', '--interval', '20', '--skip-corrupt'], last, 15_000);
    expect(r.sawLast, r.stderr).toBe(true);
    expect(printed(r.lines)).toEqual(asJson(d, d.kept));
    expect(new Set(r.lines.map((l) => (JSON.parse(l) as { shard: number }).shard))).toEqual(new Set([0, 1]));
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([expect.stringContaining(`skipped ${d.bad.bytes} corrupt bytes: ${d.file} at offset ${d.bad.offset}: `)]);
  });
});
