/**
 * createLogWritable: stream.pipeline into a log in object mode and in lines mode, backpressure
 * from a small ring (write() returns false instead of the ring overflowing), 'finish' only once
 * durable, and errors that fail the pipeline with their codes.
 */
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createLogWritable, openLog, readLogSync } from '@shardlog/core';
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { logDir, segmentFiles, texts } from './helpers.js';

describe('createLogWritable', () => {
  it('object mode: each chunk is one entry; objects are JSON; strings and bytes go in as they are', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    await pipeline(Readable.from([{ a: 1 }, 'plain text', Buffer.from('bytes'), [1, 2]]), createLogWritable(log));
    await log.close();
    const entries = [...readLogSync({ dir })];
    expect(entries.map((e) => e.text())).toEqual(['{"a":1}', 'plain text', 'bytes', '[1,2]']);
    expect(entries.map((e) => e.isText)).toEqual([true, true, false, true]);
  });

  it('chunks written together (one _writev) larger than half the ring all go in, in order', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024 });
    const w = createLogWritable(log);
    w.cork();
    for (let i = 0; i < 100; i++) w.write(`${i} ${'x'.repeat(1000)}`); // ~100 KB in one _writev
    process.nextTick(() => w.uncork());
    w.end();
    await once(w, 'finish');
    await log.close();
    expect(texts(dir).map((t) => Number(t.split(' ')[0]))).toEqual([...Array(100).keys()]);
  });

  it('backpressure: a source much faster than the disk fills a 64 KiB ring without overflowing it', async () => {
    const dir = logDir();
    // onFull 'throw': if the stream let the ring overflow, the append would throw RingFullError.
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, onFull: 'throw', sync: 'batch' });
    const n = 20_000;
    const w = createLogWritable(log);
    let drains = 0;
    w.on('drain', () => drains++);
    async function* source() {
      for (let i = 0; i < n; i++) yield { i, pad: 'p'.repeat(100) };
    }
    await pipeline(source(), w);
    const st = log.stats();
    expect(st.ringFullWaits).toBe(0);
    expect(drains).toBeGreaterThan(0); // write() returned false and the source waited for 'drain'
    await log.close();
    const got = texts(dir).map((t) => (JSON.parse(t) as { i: number }).i);
    expect(got).toEqual([...Array(n).keys()]);
  });

  it("lines mode: splits bytes at '\\n' across chunk boundaries, skips empty lines, keeps an unterminated last line", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 3 });
    const chunks = ['{"n":1}\n{"n"', ':2}\n\n{"n":3', '}\n', '{"n":4}\n{"n":5}', '\n', 'tail without newline'];
    await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), createLogWritable(log, { mode: 'lines' }));
    await log.close();
    expect(texts(dir)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}', '{"n":5}', 'tail without newline']);
  });

  it('lines mode into a lines-format log gives back the same text', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, format: 'lines' });
    const text = Array.from({ length: 500 }, (_, i) => `line ${i} ${'é'.repeat(i % 7)}`).join('\n') + '\n';
    const bytes = Buffer.from(text);
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 333) pieces.push(bytes.subarray(i, i + 333)); // cuts inside lines and inside UTF-8 characters
    await pipeline(Readable.from(pieces), createLogWritable(log, { mode: 'lines' }));
    await log.close();
    expect(fs.readFileSync(segmentFiles(dir, 0)[0], 'utf8')).toBe(text);
  });

  it("'finish' (the end of pipeline) comes only once everything is durable", async () => {
    const dir = logDir();
    // sync 'none': nothing is fdatasynced unless someone waits for it, so a zero lag after the
    // pipeline is final()'s durable() at work.
    const log = await openLog({ dir, shards: 2, sync: 'none' });
    await pipeline(Readable.from(Array.from({ length: 1000 }, (_, i) => `entry ${i}`)), createLogWritable(log));
    const st = log.stats();
    expect(st.entries).toBe(1000);
    expect(st.durableLagBytes).toBe(0);
    expect(st.fsyncs).toBeGreaterThan(0);
    await log.close();
  });

  it('a line larger than the log allows fails the pipeline with ERR_SHARDLOG_ENTRY_TOO_LARGE', async () => {
    const log = await openLog({ dir: logDir(), shards: 1, ringBytes: 64 * 1024 });
    const big = Buffer.alloc(40 * 1024, 'x');
    await expect(pipeline(Readable.from([big, Buffer.from('\n')]), createLogWritable(log, { mode: 'lines' }))).rejects.toMatchObject({
      code: 'ERR_SHARDLOG_ENTRY_TOO_LARGE',
    });
    await log.close();
  });

  it('a chunk that cannot be serialized (a cycle, a BigInt, a serialize that throws) fails the pipeline with InvalidArgumentError; what came before is in the log', async () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    for (const [bad, opts, why] of [
      [cyclic, {}, /circular/i],
      [{ n: 10n }, {}, /BigInt/],
      [{ ok: true }, { serialize: () => { throw new RangeError('no way'); } }, /no way/],
    ] as const) {
      const dir = logDir();
      const log = await openLog({ dir, shards: 1 });
      const err = await pipeline(Readable.from([{ first: 1 }, bad], { objectMode: true }), createLogWritable(log, opts)).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT', message: expect.stringMatching(why) });
      await log.close();
      expect(texts(dir)).toEqual(Object.keys(opts).length ? [] : ['{"first":1}']);
    }
  });

  it('the entries before a bad chunk go in however the stream grouped the chunks (one _writev of many; lines in one chunk)', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    const w = createLogWritable(log, { serialize: (c) => { if ((c as { bad?: boolean }).bad) throw new Error('bad chunk'); return JSON.stringify(c); } });
    const failed = once(w, 'error');
    w.cork(); // the four reach _writev together
    w.write({ j: 1 });
    w.write({ j: 2 });
    w.write({ bad: true });
    w.write({ j: 4 });
    w.uncork();
    expect((await failed)[0]).toMatchObject({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT', message: expect.stringMatching(/bad chunk/) });
    const tooLong = 'x'.repeat(log.maxEntryBytes + 10);
    await expect(pipeline(Readable.from([Buffer.from(`l1\nl2\n${tooLong}\nl4\n`)]), createLogWritable(log, { mode: 'lines' }))).rejects.toMatchObject({ code: 'ERR_SHARDLOG_ENTRY_TOO_LARGE' });
    await log.close();
    expect(texts(dir)).toEqual(['{"j":1}', '{"j":2}', 'l1', 'l2']);
  });

  it('a failed log fails the pipeline with ERR_SHARDLOG_SHARD_FAILED', async () => {
    const log = await openLog({ dir: logDir(), shards: 1, testFaults: { writeFailAt: 1 } });
    await expect(pipeline(Readable.from(['a', 'b', 'c']), createLogWritable(log))).rejects.toMatchObject({ code: 'ERR_SHARDLOG_SHARD_FAILED' });
    await expect(log.close()).rejects.toMatchObject({ code: 'ERR_SHARDLOG_SHARD_FAILED' });
  });

  it('rejects bad options', async () => {
    const log = await openLog({ dir: logDir(), shards: 1 });
    expect(() => createLogWritable(log, { mode: 'bytes' as never })).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' }));
    expect(() => createLogWritable(log, { maxFill: 2 })).toThrow(/maxFill/);
    expect(() => createLogWritable(log, { bogus: 1 } as never)).toThrow(/unknown option bogus/);
    expect(() => createLogWritable(log, 'lines' as never)).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' }));
    expect(() => createLogWritable({} as never)).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' }));
    await log.close();
  });
});
