/**
 * log.follow() across segment boundaries: each segment header names the highest seq of the segment
 * before it (prevMaxSeq), and a follow that read that segment checks the link, as readLog does. A
 * middle segment deleted, or cut at a frame boundary (so every frame left in it is valid), is a
 * CorruptLogError naming the segment after the gap (offset 0), within a bounded time; with
 * skipCorrupt the follow reports the break once (onSkip) and yields exactly the other entries, the
 * same as readLog({ skipCorrupt }). What the follow cannot know is not judged: the link into the
 * segment it starts in, segments retention removed (before or after the follow came to them), and
 * a new segment whose header is not written yet.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, LogFormatError, openLog, readLogSync, ShardCursor, type Log, type LogEntry, type SkippedRegion } from '@shardlog/core';
import { copyDir, logDir, records, segmentFiles } from './helpers.js';

/** Resolves with what `p` settles to, or rejects after ms: a hang fails the test instead of timing it out. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const PER_SEGMENT = 12;
const SEGMENTS = 4;

/** Append `n` entries to shard 0, one frame each (a durable() after each). */
async function appendFrames(log: Log, n: number, tag: string): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    seqs.push(log.appendTo(0, `${tag} ${i} ` + 'z'.repeat(40 + ((i * 13) % 50))));
    await log.durable();
  }
  return seqs;
}

interface Broken {
  dir: string;
  /** The log, reopened after the damage, with entries appended after it (durable). */
  log: Log;
  /** The segment after the gap: the file the error names. */
  after: string;
  /** Every seq a reader that skips the break yields, in order. */
  kept: number[];
  /** The seqs lost with the damage. */
  lost: number[];
}

/**
 * A one-shard log of four segments (rotate() between them, one frame per entry), closed; its second
 * segment deleted, or cut after its second frame; reopened, and three entries appended.
 */
async function broken(mode: 'delete' | 'truncate'): Promise<Broken> {
  const dir = logDir();
  let log = await openLog({ dir, shards: 1 });
  const bySegment: number[][] = [];
  for (let s = 0; s < SEGMENTS; s++) {
    bySegment.push(await appendFrames(log, PER_SEGMENT, `seg${s}`));
    if (s < SEGMENTS - 1) await log.rotate();
  }
  await log.close();
  const files = segmentFiles(dir);
  expect(files.length).toBe(SEGMENTS);
  const victim = files[1];
  let lost: number[];
  if (mode === 'delete') {
    fs.rmSync(victim);
    lost = bySegment[1];
  } else {
    const recs = records(victim);
    const frames = [...new Set(recs.map((r) => r.frameStart!))];
    expect(frames.length).toBe(PER_SEGMENT);
    fs.truncateSync(victim, frames[2]); // the header and two whole frames stay
    lost = bySegment[1].slice(2);
  }
  log = await openLog({ dir });
  const more = await appendFrames(log, 3, 'after');
  const kept = [...bySegment.flat(), ...more].filter((s) => !lost.includes(s));
  return { dir, log, after: files[2], kept, lost };
}

async function seqsOf(it: AsyncIterable<LogEntry>, until: number): Promise<number[]> {
  const out: number[] = [];
  for await (const e of it) {
    out.push(e.seq);
    if (e.seq >= until) break;
  }
  return out;
}

describe.each(['delete', 'truncate'] as const)('follow() over a %s middle segment', (mode) => {
  it('is a CorruptLogError naming the segment after the gap, within a bounded time', async () => {
    const b = await broken(mode);
    try {
      const got: number[] = [];
      const run = (async () => {
        for await (const e of b.log.follow({ fromSeq: 1 })) got.push(e.seq);
      })();
      const err = await within(run.then(() => undefined, (e: unknown) => e), 5000, 'follow');
      expect(err).toBeInstanceOf(CorruptLogError);
      expect(err).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: b.after, offset: 0 });
      expect((err as Error).message).toMatch(/header says the previous segment ended at seq \d+, but the segment before it ends at seq \d+: a segment is missing or was cut/);
      // the entries before the gap, nothing after it
      expect(got).toEqual(b.kept.filter((s) => s < b.lost[0]));
      // readLog says the same
      expect(() => [...readLogSync({ dir: b.dir })]).toThrow(expect.objectContaining({ file: b.after, offset: 0 }) as Error);
    } finally {
      await b.log.close();
    }
  });

  it('from a seq in the gap, too: the follow reads the segment before it and checks the link', async () => {
    const b = await broken(mode);
    try {
      const from = b.lost[1];
      await expect(within(seqsOf(b.log.follow({ fromSeq: from }), Infinity), 5000, 'follow')).rejects.toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: b.after, offset: 0 });
    } finally {
      await b.log.close();
    }
  });

  it('with skipCorrupt: exactly the other entries, in order, and the break reported once', async () => {
    const b = await broken(mode);
    const regions: SkippedRegion[] = [];
    let got: number[];
    try {
      got = await within(seqsOf(b.log.follow({ fromSeq: 1, skipCorrupt: true, onSkip: (r) => regions.push(r) }), b.kept.at(-1)!), 5000, 'follow');
    } finally {
      await b.log.close();
    }
    expect(got).toEqual(b.kept);
    expect(regions).toEqual([{ shard: 0, file: b.after, offset: 0, bytes: 0, reason: expect.stringMatching(/a segment is missing or was cut/) as string }]);
    // the same as readLog with skipCorrupt
    const read: SkippedRegion[] = [];
    expect([...readLogSync({ dir: b.dir, skipCorrupt: true, onSkip: (r) => read.push(r) })].map((e) => e.seq)).toEqual(b.kept);
    expect(read).toEqual(regions);
  });

  it('starting after the gap (in the segment after it) judges nothing it did not read', async () => {
    const b = await broken(mode);
    try {
      const from = b.kept.find((s) => s > b.lost.at(-1)!)! + 1;
      const got = await within(seqsOf(b.log.follow({ fromSeq: from }), b.kept.at(-1)!), 5000, 'follow');
      expect(got).toEqual(b.kept.filter((s) => s >= from));
    } finally {
      await b.log.close();
    }
  });
});

describe('follow() and segments that come and go for real', () => {
  it('new segments (rotate, segmentBytes) while following: no break, every entry once, in order', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, segmentBytes: 4096 });
    const got: number[] = [];
    const run = (async () => {
      for await (const e of log.follow({ fromSeq: 1 })) got.push(e.seq);
    })();
    let last = 0;
    for (let round = 0; round < 12; round++) {
      // 15 entries of ~128 bytes a round on shard 0: three rounds pass segmentBytes (4096) even when
      // the writer takes each round as one frame, so size rolls come between the rotate()s
      for (let i = 0; i < 30; i++) last = log.append(`${round}.${i} ` + 'r'.repeat(100));
      await log.durable();
      if (round % 4 === 3) await log.rotate();
    }
    await log.close();
    await within(run, 10_000, 'follow');
    expect(segmentFiles(dir, 0).length).toBeGreaterThan(3);
    expect(got).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  });

  it('retention removes the segment being read and the ones after it: not a break', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    try {
      // the follow lists its segments while there is one: the ones rotate() makes come later
      const it = log.follow({ fromSeq: 1 });
      const first = await appendFrames(log, PER_SEGMENT, 'seg0');
      const r = await within(it.next(), 5000, 'follow');
      expect(r.value?.seq).toBe(first[0]);
      const later: number[][] = [];
      for (let s = 1; s < SEGMENTS; s++) {
        await log.rotate();
        later.push(await appendFrames(log, PER_SEGMENT, `seg${s}`));
      }
      // everything but the last segment goes, while the follow is still in the first one
      const res = await log.truncateBefore(later.at(-1)![0]);
      expect(res.removed.length).toBe(SEGMENTS - 1);
      const rest = await within(seqsOf({ [Symbol.asyncIterator]: () => it }, later.at(-1)!.at(-1)!), 5000, 'follow');
      // the first segment is read on from its open file; the removed ones are passed without a word
      expect(rest).toEqual([...first.slice(1), ...later.at(-1)!]);
    } finally {
      await log.close();
    }
  });

  it('retention removes segments listed but not yet reached: not a break', async () => {
    const dir = logDir();
    let log = await openLog({ dir, shards: 1 });
    const segs: number[][] = [];
    for (let s = 0; s < SEGMENTS; s++) {
      segs.push(await appendFrames(log, PER_SEGMENT, `seg${s}`));
      if (s < SEGMENTS - 1) await log.rotate();
    }
    await log.close();
    log = await openLog({ dir });
    try {
      const it = log.follow({ fromSeq: 1 }); // lists all four segments
      const r = await within(it.next(), 5000, 'follow');
      expect(r.value?.seq).toBe(segs[0][0]);
      await log.truncateBefore(segs[SEGMENTS - 1][0]);
      const more = await appendFrames(log, 2, 'after');
      const rest = await within(seqsOf({ [Symbol.asyncIterator]: () => it }, more.at(-1)!), 5000, 'follow');
      expect(rest).toEqual([...segs[0].slice(1), ...segs[SEGMENTS - 1], ...more]);
    } finally {
      await log.close();
    }
  });
});

/** Everything a cursor has now (gen: see ShardCursor.next); at most 1000 entries (a cursor that reads entries again must not loop forever). */
function drain(c: ShardCursor, gen: number): number[] {
  const out: number[] = [];
  for (let e = c.next(Number.MAX_SAFE_INTEGER, gen); e && out.length < 1000; e = c.next(Number.MAX_SAFE_INTEGER, gen)) out.push(e.seq);
  return out;
}

describe('ShardCursor (follow and tail -f) at a segment whose header is not there', () => {
  /** A closed one-shard log of three segments (rotate()), and each segment's seqs. */
  async function threeSegments(): Promise<{ dir: string; files: string[]; segs: number[][] }> {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    const segs: number[][] = [];
    for (let s = 0; s < 3; s++) {
      segs.push(await appendFrames(log, 5, `seg${s}`));
      if (s < 2) await log.rotate();
    }
    await log.close();
    const files = segmentFiles(dir);
    expect(files.length).toBe(3);
    return { dir, files, segs };
  }

  it('the last one, being created: waited for (no error, nothing skipped or read twice), then read', async () => {
    const { dir, files, segs } = await threeSegments();
    // as a writer in another process leaves it: the last segment created, its header not yet written
    const live = path.join(path.dirname(dir), 'live');
    copyDir(dir, live);
    const [a, b, c] = files.map((f) => path.join(live, path.relative(dir, f)));
    const bBytes = fs.readFileSync(b);
    fs.rmSync(c);
    fs.writeFileSync(b, Buffer.alloc(0));
    const cur = new ShardCursor(live, 0, 1);
    try {
      expect(drain(cur, 1)).toEqual(segs[0]);
      expect(drain(cur, 2)).toEqual([]);
      fs.writeFileSync(b, bBytes.subarray(0, 20)); // part of the header
      expect(drain(cur, 3)).toEqual([]);
      expect(cur.stuck).toBeUndefined();
      expect(cur.diagnose()).toBeUndefined();
      fs.writeFileSync(b, bBytes);
      expect(drain(cur, 4)).toEqual(segs[1]);
      fs.copyFileSync(files[2], c);
      expect(drain(cur, 5)).toEqual(segs[2]);
      expect(fs.existsSync(a)).toBe(true);
    } finally {
      cur.close();
    }
  });

  it('one in the middle (a newer segment after it): a LogFormatError naming it, as readLog says', async () => {
    const { dir, files, segs } = await threeSegments();
    fs.writeFileSync(files[1], Buffer.alloc(0));
    const cur = new ShardCursor(dir, 0, 1);
    try {
      expect(cur.next(Number.MAX_SAFE_INTEGER, 1)?.seq).toBe(segs[0][0]);
      expect(() => drain(cur, 1)).toThrow(LogFormatError);
      expect(() => drain(cur, 1)).toThrow(expect.objectContaining({ file: files[1] }) as Error);
    } finally {
      cur.close();
    }
    expect(() => [...readLogSync({ dir })]).toThrow(expect.objectContaining({ file: files[1] }) as Error);
  });
});
