/** Engine: bad input gets a clear, typed error and leaves the log intact; failures are loud. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  attachProducer,
  EntryTooLargeError,
  InvalidArgumentError,
  LogClosedError,
  LogLockedError,
  openLog,
  readLogSync,
  ShardFailedError,
  ShardlogError,
} from '@shardlog/core';
import { logDir, segmentFiles } from './helpers.js';

describe('bad input', () => {
  it('wrong entry types throw InvalidArgumentError and the log stays usable', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    log.append('before');
    for (const bad of [42, null, undefined, { a: 1 }, ['x'], new ArrayBuffer(4), Symbol('s'), 10n]) {
      let err: unknown;
      try {
        log.append(bad as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err).toBeInstanceOf(ShardlogError);
      expect((err as InvalidArgumentError).code).toBe('ERR_SHARDLOG_INVALID_ARGUMENT');
    }
    expect(() => log.appendMany('nope' as never)).toThrow(InvalidArgumentError);
    // a bad entry in the middle of appendMany leaves nothing half-appended
    expect(() => log.appendMany(['ok', 5 as never, 'ok2'])).toThrow(/entry 1 must be a string or a Uint8Array/);
    await expect(log.durable(-1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(log.durable('7' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    log.append('after');
    await log.close();
    expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['before', 'after']);
  });

  it('bad options are refused with a message naming the option, and nothing is created', async () => {
    const dir = logDir();
    const cases: [object, RegExp][] = [
      [{}, /dir/],
      [{ dir, shards: 0 }, /shards/],
      [{ dir, shards: 1.5 }, /shards/],
      [{ dir, ringBytes: 100_000 }, /power of two/],
      [{ dir, ringBytes: 1024 }, /ringBytes/],
      [{ dir, sync: 'always' }, /sync/],
      [{ dir, sync: { everyMs: 0 } }, /everyMs/],
      [{ dir, sync: { everyMs: 5, everyBytes: 5 } }, /sync/],
      [{ dir, onFull: 'drop' }, /onFull/],
      [{ dir, format: 'json' }, /format/],
      [{ dir, segmentBytes: -1 }, /segmentBytes/],
      [{ dir, skipCorrupt: 'yes' }, /skipCorrupt/],
      [{ dir, shard: 2 }, /unknown option shard/],
      // NaN and Infinity are named as such (JSON would show them as null), a NUL in the path is refused
      [{ dir, shards: Number.NaN }, /shards must be an integer from 1 to 256, got NaN/],
      [{ dir, segmentBytes: Infinity }, /segmentBytes must be an integer .* got Infinity/],
      [{ dir, sync: { everyMs: Number.NaN } }, /everyMs .* got NaN/],
      [{ dir: `${dir}\0x` }, /dir must not contain a NUL character/],
    ];
    for (const [opts, msg] of cases) {
      await expect(openLog(opts as never)).rejects.toThrow(msg);
      await expect(openLog(opts as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(openLog(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it("lines: maxEntryBytes leaves room for the newline the format adds; the error names the caller's size", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, format: 'lines', ringBytes: 64 * 1024 });
    const max = log.maxEntryBytes;
    expect(max).toBe(32 * 1024 - 16 - 1);
    log.append('x'.repeat(max)); // fits, with its newline
    log.append('y'.repeat(max) + '\n'); // one byte more, but it brings its own newline
    for (const big of ['z'.repeat(max + 1), new Uint8Array(max + 1).fill(65)]) {
      let err: unknown;
      try {
        log.append(big);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EntryTooLargeError);
      expect(err).toMatchObject({ size: max + 1, limit: max });
      expect((err as Error).message).toContain(`entry of ${max + 1} bytes`);
      expect(() => log.appendMany(['ok', big])).toThrow(new RegExp(`entry of ${max + 1} bytes`));
    }
    await log.close();
    expect(fs.readFileSync(segmentFiles(dir)[0], 'utf8')).toBe('x'.repeat(max) + '\n' + 'y'.repeat(max) + '\n');
  });

  it('attachProducer refuses anything but the handle log.producerHandle() gives, with InvalidArgumentError', () => {
    const g = new SharedArrayBuffer(256);
    const forged = [null, 5, {}, { rings: [], global: g }, { rings: [1], global: g }, { rings: [new SharedArrayBuffer(8)], global: g }, { rings: [new SharedArrayBuffer(512 + 65536)], global: new SharedArrayBuffer(4) }, { rings: [new SharedArrayBuffer(512 + 1000)], global: g }];
    for (const h of forged) expect(() => attachProducer(h as never)).toThrow(InvalidArgumentError);
  });

  it('append, appendMany, rotate and durable after close throw LogClosedError', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    log.append('x');
    const closing = log.close();
    expect(() => log.append('during close')).toThrow(LogClosedError);
    await closing;
    expect(() => log.append('y')).toThrow(LogClosedError);
    expect(() => log.appendMany(['y'])).toThrow(LogClosedError);
    await expect(log.rotate()).rejects.toBeInstanceOf(LogClosedError);
    expect((() => { try { log.append('z'); } catch (e) { return (e as LogClosedError).code; } })()).toBe('ERR_SHARDLOG_CLOSED');
    await log.durable(); // everything it appended is durable: resolves
    await log.close(); // idempotent
    expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['x']);
  });

  it('a second open of a log that is open is refused (LogLockedError); after close it opens', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    await expect(openLog({ dir })).rejects.toBeInstanceOf(LogLockedError);
    await expect(openLog({ dir })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_LOCKED', pid: process.pid });
    await log.close();
    const again = await openLog({ dir });
    await again.close();
  });

  it('a lock left by a process that no longer runs does not block opening', async () => {
    const dir = logDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'shardlog.lock'), '999999999\n');
    const log = await openLog({ dir, shards: 1 });
    await log.close();
  });

  it('reopening with another format or shard count is refused', async () => {
    const dir = logDir();
    await (await openLog({ dir, shards: 2 })).close();
    await expect(openLog({ dir, shards: 3 })).rejects.toThrow(/created with 2 shards/);
    await expect(openLog({ dir, format: 'lines' })).rejects.toThrow(/format 'framed'/);
    await expect(openLog({ dir, shards: 3 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await (await openLog({ dir })).close(); // and the lock was released each time
  });

  it('a corrupt manifest is a clear error', async () => {
    const dir = logDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'shardlog.json'), '{not json');
    await expect(openLog({ dir })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_FORMAT' });
    await expect(openLog({ dir })).rejects.toThrow(/shardlog\.json/); // and the lock was released
  });
});

describe('write and sync failures fail loudly, never retried', () => {
  it('an fdatasync error rejects durable() with the cause, and later appends throw', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'batch', testFaults: { syncFailAt: 1, code: 'EIO' } });
    const seq = log.append('doomed');
    const err = await log.durable(seq).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ShardFailedError);
    expect((err as ShardFailedError).code).toBe('ERR_SHARDLOG_SHARD_FAILED');
    expect((err as Error).message).toMatch(/EIO/);
    expect(() => log.append('later')).toThrow(ShardFailedError);
    await expect(log.durable()).rejects.toBeInstanceOf(ShardFailedError);
    expect(log.stats().state).toBe('failed');
    expect(log.stats().fsyncs).toBe(0); // the failed sync is not counted, and not retried
    await expect(log.close()).rejects.toBeInstanceOf(ShardFailedError);
    // the lock is released even so: the log can be reopened and recovered
    const again = await openLog({ dir });
    await again.close();
  });

  it('a writev error (injected ENOSPC) fails the log the same way', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, sync: 'none', testFaults: { writeFailAt: 8, code: 'ENOSPC' } });
    let thrown: unknown;
    const pending: Promise<void>[] = [];
    try {
      for (let i = 0; i < 1_000_000; i++) {
        const p = log.durable(log.append(`entry ${i}`));
        p.catch(() => undefined); // observed below with allSettled; may reject before the loop ends
        pending.push(p);
        if (i % 200 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    } catch (e) {
      thrown = e;
    }
    const results = await Promise.allSettled(pending);
    expect(thrown).toBeInstanceOf(ShardFailedError);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ShardFailedError);
    expect(rejected.some((r) => ((r as PromiseRejectedResult).reason as Error).message.includes('ENOSPC'))).toBe(true);
    // what was acknowledged before the failure is on disk
    const acked = results.findIndex((r) => r.status === 'rejected');
    await expect(log.close()).rejects.toBeInstanceOf(ShardFailedError);
    const onDisk = new Set([...readLogSync({ dir })].map((e) => e.text()));
    for (let i = 0; i < acked; i++) if (results[i].status === 'fulfilled') expect(onDisk.has(`entry ${i}`)).toBe(true);
  });

  it('a segment name taken by something that is not a regular file is refused and left alone', async () => {
    if (!fs.existsSync('/dev/full')) return;
    const dir = logDir();
    fs.mkdirSync(path.join(dir, '000'), { recursive: true });
    // the first segment will be named after seq 1: make that name a link to a device that is always full
    fs.symlinkSync('/dev/full', path.join(dir, '000', '00000000000000000001.wal'));
    fs.writeFileSync(path.join(dir, 'shardlog.json'), JSON.stringify({ shardlog: 1, format: 'framed', shards: 1, created: 'x' }));
    // recovery must not mistake the device for a (short, crashed) segment and remove it
    await expect(openLog({ dir })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_FORMAT' });
    expect(fs.lstatSync(path.join(dir, '000', '00000000000000000001.wal')).isSymbolicLink()).toBe(true);
  });

  it('a writer thread that dies fails the log: appends throw, durable() rejects, nothing hangs', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'batch', ringBytes: 64 * 1024, testFaults: { exitAfterBatches: 2 } });
    let thrown: unknown;
    const waits: Promise<void>[] = [];
    try {
      for (let i = 0; i < 1_000_000; i++) {
        waits.push(log.durable(log.append(`entry ${i}`)).catch(() => undefined));
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ShardFailedError);
    await expect(log.durable()).rejects.toBeInstanceOf(ShardFailedError);
    await Promise.all(waits);
    await expect(log.close()).rejects.toBeInstanceOf(ShardFailedError);
  });
});
