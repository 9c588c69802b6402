/**
 * readLog/readLogSync check their options the way openLog does: `shards` must list shards of the log,
 * each once; an unknown key (a typo) is refused, not ignored; a bad chunkBytes is refused. Each is an
 * InvalidArgumentError (a ShardlogError with its code), and a `dir` that is a regular file is a
 * LogOpenError: never a raw TypeError, RangeError or ENOTDIR, and never entries yielded twice or
 * silently none.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, LogOpenError, openLog, readLog, readLogSync, ShardlogError, type ReadOptions } from '@shardlog/core';
import { logDir, tmpDir } from './helpers.js';

/** What a read gives: [seq, shard, text] of each entry, or the error it throws. */
async function attempt(o: unknown): Promise<[number, number, string][] | Error> {
  try {
    const out: [number, number, string][] = [];
    for await (const e of readLog(o as ReadOptions)) out.push([e.seq, e.shard, e.text()]);
    return out;
  } catch (e) {
    return e as Error;
  }
}

describe('readLog options', () => {
  let dir: string;
  const want: [number, number, string][] = [];
  beforeAll(async () => {
    dir = logDir();
    const log = await openLog({ dir, shards: 3 });
    for (let i = 0; i < 12; i++) want.push([log.appendTo(i % 3, `entry ${i}`), i % 3, `entry ${i}`]);
    await log.close();
  });

  it('shards: a subset, in any order, reads those shards once each', async () => {
    expect(await attempt({ dir })).toEqual(want);
    expect(await attempt({ dir, shards: [2, 0] })).toEqual(want.filter(([, s]) => s !== 1));
    expect(await attempt({ dir, shards: [1] })).toEqual(want.filter(([, s]) => s === 1));
    expect(await attempt({ dir, shards: [] })).toEqual([]);
  });

  it('shards: a duplicate, an out-of-range, negative or fractional shard, or a non-array is an InvalidArgumentError', async () => {
    const cases: [unknown, RegExp][] = [
      [[0, 0, 1, 1], /shard 0 is listed twice/],
      [[2, 1, 2], /shard 2 is listed twice/],
      [[3], /3 is not a shard of .* \(it has shards 0 to 2\)/],
      [[7], /7 is not a shard/],
      [[-1], /-1 is not a shard/],
      [[0.5], /0\.5 is not a shard/],
      [[NaN], /NaN is not a shard/],
      [['0'], /"0" is not a shard/],
      ['0', /shards must be an array/],
      [0, /shards must be an array/],
      [{ 0: 0, length: 1 }, /shards must be an array/],
      [null, /shards must be an array/],
    ];
    for (const [shards, msg] of cases) {
      const r = await attempt({ dir, shards });
      expect(r, JSON.stringify(shards)).toBeInstanceOf(InvalidArgumentError);
      expect((r as InvalidArgumentError).code).toBe('ERR_SHARDLOG_INVALID_ARGUMENT');
      expect((r as Error).message, JSON.stringify(shards)).toMatch(msg);
    }
    expect(() => [...readLogSync({ dir, shards: [0, 0] })]).toThrow(InvalidArgumentError);
  });

  it('an unknown option (a typo) is an InvalidArgumentError naming it, sync and async', async () => {
    for (const key of ['fromseq', 'from', 'shard', 'skip_corrupt', 'keys']) {
      const r = await attempt({ dir, [key]: 2 });
      expect(r, key).toBeInstanceOf(InvalidArgumentError);
      expect((r as Error).message).toBe(`unknown readLog option ${key}`);
      expect(() => [...readLogSync({ dir, [key]: 2 } as ReadOptions)]).toThrow(`unknown readLog option ${key}`);
    }
    // every documented option is known
    expect(await attempt({ dir, fromSeq: 5, shards: [0, 1, 2], chunkBytes: 4096, encryption: undefined, skipCorrupt: false })).toEqual(want.filter(([s]) => s >= 5));
  });

  it('chunkBytes must be a positive integer', async () => {
    for (const chunkBytes of [NaN, 0, -1, 1.5, Infinity, '4096']) {
      const r = await attempt({ dir, chunkBytes });
      expect(r, String(chunkBytes)).toBeInstanceOf(InvalidArgumentError);
      expect((r as Error).message).toMatch(/chunkBytes must be a positive integer/);
    }
    expect(await attempt({ dir, chunkBytes: 1 })).toEqual(want); // tiny chunks still read whole records
  });

  it('a dir that is a regular file is a LogOpenError; a missing one is "no log"; neither a raw system error', async () => {
    const file = path.join(tmpDir(), 'not-a-dir');
    fs.writeFileSync(file, 'hello');
    const r = await attempt({ dir: file });
    expect(r).toBeInstanceOf(LogOpenError);
    expect(r).toMatchObject({ code: 'ERR_SHARDLOG_OPEN', path: file });
    expect((r as Error).message).toMatch(/not a directory/);
    expect(() => [...readLogSync({ dir: file })]).toThrow(LogOpenError);
    const under = await attempt({ dir: path.join(file, 'sub') }); // a path through a file
    expect(under).toBeInstanceOf(ShardlogError);
    expect(await attempt({ dir: `${file}\0x` })).toBeInstanceOf(InvalidArgumentError); // not a path at all
    const missing = await attempt({ dir: path.join(tmpDir(), 'nothing') });
    expect(missing).toBeInstanceOf(InvalidArgumentError);
    expect((missing as Error).message).toMatch(/no log at/);
    // a directory that holds no log (a mistyped path) is "no log" too, not an empty read
    const empty = tmpDir();
    fs.writeFileSync(path.join(empty, 'notes.txt'), 'x');
    expect(await attempt({ dir: empty })).toMatchObject({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT', message: expect.stringMatching(/no log at .*no shardlog\.json, no shard directories/) });
  });

  it('options that are not an object, or lack dir, are an InvalidArgumentError', async () => {
    for (const o of [undefined, null, 'dir', { fromSeq: 1 }, { dir: 5 }]) expect(await attempt(o), JSON.stringify(o)).toBeInstanceOf(InvalidArgumentError);
  });
});
