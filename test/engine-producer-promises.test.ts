/**
 * Engine: the producer's promises. A bad view never leaves a hole in the ring, appendTo checks its
 * shard, durable(seq) waits for that seq whoever appended it, appendMany is all or nothing, rotate()
 * works after a crash cut a whole segment, a failure always carries its cause, and a writer thread
 * that cannot start makes openLog reject.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, openLog, readLogSync, RingFullError, ShardFailedError, type Log } from '@shardlog/core';
import { logDir, segmentFiles } from './helpers.js';

function thrown(f: () => unknown): Error & { code?: string; cause?: unknown } {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

/** durable() within a bound, so a hole in the ring fails the test instead of hanging it. */
async function durableSoon(log: Log, seq?: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('durable() stalled')), 5000)));
  try {
    await Promise.race([log.durable(seq), t]);
  } finally {
    clearTimeout(timer);
  }
}

function detachedView(): Uint8Array {
  const ab = new ArrayBuffer(8);
  const v = new Uint8Array(ab);
  structuredClone(ab, { transfer: [ab] });
  return v;
}

function shrunkView(): Uint8Array {
  const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(16, { maxByteLength: 16 });
  const v = new Uint8Array(ab, 0, 16);
  ab.resize(4);
  return v;
}

/** A Uint8Array whose bytes cannot be read: the copy into the claimed record throws. */
function unreadableView(): Uint8Array {
  return new Proxy(new Uint8Array(8), {
    get(t, k) {
      if (typeof k === 'string' && /^\d+$/.test(k)) throw new Error('boom');
      return Reflect.get(t, k);
    },
  });
}

describe('bad views: no hole in the ring', () => {
  it('a detached, shrunk or unreadable Uint8Array throws InvalidArgumentError; later entries are written and durable', async () => {
    for (const shared of [false, true]) {
      const dir = logDir();
      const log = await openLog({ dir, shards: 1, sync: 'batch' });
      if (shared) log.producerHandle();
      log.append('before');
      const bad = [detachedView(), shrunkView(), unreadableView()];
      for (const v of bad) {
        const e = thrown(() => log.append(v));
        expect(e).toBeInstanceOf(InvalidArgumentError);
        expect(e.code).toBe('ERR_SHARDLOG_INVALID_ARGUMENT');
        const m = thrown(() => log.appendMany([Buffer.from('in a batch'), v, 'after it']));
        expect(m).toBeInstanceOf(InvalidArgumentError);
      }
      const s = log.append('after');
      log.appendMany(['batch 1', Buffer.from('batch 2')]);
      await durableSoon(log, s);
      await durableSoon(log);
      expect(log.failure).toBeUndefined();
      await log.close();
      // nothing of a refused batch, and the seqs of refused claims are simply gaps
      expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['before', 'after', 'batch 1', 'batch 2']);
    }
  });
});

describe('appendTo', () => {
  it('a shard that is not an integer in range is an InvalidArgumentError', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    for (const shard of [-1, 2, 1.5, NaN, Infinity, '0', undefined]) {
      const e = thrown(() => log.appendTo(shard as never, 'x'));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.message).toMatch(/integer from 0 to 1/);
    }
    log.appendTo(1, 'ok');
    await log.close();
    expect([...readLogSync({ dir })].map((e) => [e.shard, e.text()])).toEqual([[1, 'ok']]);
  });
});

describe('durable(seq)', () => {
  it("waits for an entry another thread appended, until it is on disk", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'none', testFaults: { batchDelayMs: 400 } });
    const handle = log.producerHandle();
    const w = new Worker(new URL('./fixtures/append-foreign-thread.mjs', import.meta.url), { workerData: { handle } });
    const seq = await new Promise<number>((r) => w.once('message', (m: { seq: number }) => r(m.seq)));
    await w.terminate();
    await durableSoon(log, seq);
    // on disk when durable() resolved (read with the log still open)
    expect([...readLogSync({ dir })].map((e) => e.seq)).toContain(seq);
    await log.close();
  });

  it('a seq not handed out yet is an InvalidArgumentError', async () => {
    const log = await openLog({ dir: logDir(), shards: 2 });
    const s = log.append('x');
    await expect(log.durable(s + 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(log.durable(s + 1000)).rejects.toThrow(/no entry has that sequence number yet/);
    await log.durable(s);
    await log.close();
  });
});

describe('appendMany', () => {
  it("with onFull: 'throw', a batch that does not fit appends nothing and takes no seq", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, onFull: 'throw', testFaults: { batchDelayMs: 300 } });
    log.append('wake'); // the writer takes it, then sleeps 300 ms
    await new Promise((r) => setTimeout(r, 50));
    const filler = Array.from({ length: 5 }, () => Buffer.alloc(5000, 1)); // 25 KiB of the 64 KiB
    log.appendMany(filler);
    log.appendMany(filler);
    const next = log.nextSeq;
    const e = thrown(() => log.appendMany(filler)); // 25 KiB more does not fit in what is left
    expect(e).toBeInstanceOf(RingFullError);
    expect(log.nextSeq).toBe(next);
    await log.close();
    expect([...readLogSync({ dir })].length).toBe(11);
  });
});

describe('rotate() after a crash cut a whole segment', () => {
  it('keeps appending to the header-only segment instead of failing with EEXIST', async () => {
    const dir = logDir();
    let log = await openLog({ dir, shards: 1 });
    log.append('lost 1');
    log.append('lost 2');
    await log.close();
    const [seg] = segmentFiles(dir);
    fs.truncateSync(seg, 40); // as if the process was killed before the records were synced
    log = await openLog({ dir, shards: 1 });
    expect(log.nextSeq).toBe(1);
    await log.rotate();
    const s = log.append('after the crash');
    await log.durable(s);
    await log.rotate();
    log.append('next segment');
    expect(log.failure).toBeUndefined();
    await log.close();
    expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['after the crash', 'next segment']);
    expect(segmentFiles(dir).map((f) => path.basename(f))).toEqual(['00000000000000000001.wal', '00000000000000000002.wal']);
  });
});

describe('failures carry their cause', () => {
  it('a failure with a code outside the old table (EMFILE) names it, with a cause, even before the owner heard of it', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, testFaults: { writeFailAt: 1, code: 'EMFILE' } });
    // no await: the writer's message has not reached this thread yet, only shared memory has
    let e: (Error & { code?: string; cause?: { code?: string } }) | undefined;
    const deadline = Date.now() + 5000;
    while (!e && Date.now() < deadline) {
      try {
        log.append('x');
      } catch (err) {
        e = err as typeof e;
      }
    }
    expect(e).toBeInstanceOf(ShardFailedError);
    expect(e?.message).toMatch(/EMFILE/);
    expect(e?.cause?.code).toBe('EMFILE');
    // once the owner learnt the full error (the writer's message), that is the cause
    await new Promise((r) => setTimeout(r, 200));
    await expect(log.durable()).rejects.toSatisfy((r: Error & { cause?: { code?: string; syscall?: string } }) => r.cause?.code === 'EMFILE' && r.cause?.syscall === 'writev');
    await expect(log.close()).rejects.toBeInstanceOf(ShardFailedError);
  });
});

describe('a writer thread that cannot start', () => {
  it('makes openLog reject with WriterStartError (missing script, or one that throws while loading), and releases the log', async () => {
    const dir = logDir();
    const missing = pathToFileURL(path.join(dir, 'no-such-writer.js')).href;
    for (const testFaults of [{ writerUrl: missing }, { throwAtStart: true }]) {
      const r = await openLog({ dir, shards: 2, testFaults }).then(
        () => undefined,
        (e: Error & { code?: string; cause?: Error }) => e,
      );
      expect(r?.name).toBe('WriterStartError');
      expect(r?.code).toBe('ERR_SHARDLOG_WRITER_START');
      expect(r?.cause).toBeInstanceOf(Error);
      expect(r?.message).toMatch(testFaults.throwAtStart ? /threw while loading/ : /Cannot find module/);
    }
    const log = await openLog({ dir, shards: 2 }); // the lock was released
    log.append('ok');
    await log.close();
  });
});
