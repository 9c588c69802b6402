/**
 * The log manager: named logs under one root on a shared writer pool. Names that could leave the
 * root are refused; a log is opened once and reused; each is an ordinary log directory; list, drop,
 * the maxOpenLogs cap (LRU close, or TooManyLogsError), idleCloseMs, stats, close.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, LogClosedError, openLog, openLogManager, TooManyLogsError } from '@shardlog/core';
import { spawnSync } from 'node:child_process';
import { fixture, readAll, readme, runModule, tmpDir } from './helpers.js';

describe('log manager', () => {
  it('refuses names that are not one plain path component, and creates nothing for them', async () => {
    const parent = tmpDir(); // a private parent, so '../x' escaping the root would show up in it
    const root = path.join(parent, 'root');
    fs.mkdirSync(root);
    const m = await openLogManager({ root, writers: 1 });
    const bad = ['', '.', '..', '.hidden', 'a/b', 'a\\b', '../x', 'x..y', 'a\0b', 'tab\there', 'c1\u0085', 'csi\u009b[2J', ' pad', 'x'.repeat(201), 'é'.repeat(101), 'lone\ud800', 'lone\udc00x', 'cafe\u0301', '\u200b', 'abc\u202efdp.exe', 'a\u2028b', 'x\ufeffy', 42 as unknown as string];
    for (const name of bad) {
      const err = await m.log(name).catch((e: unknown) => e); // rejects, never throws
      expect(err, JSON.stringify(name)).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).code).toBe('ERR_SHARDLOG_INVALID_ARGUMENT');
      await expect(m.drop(name)).rejects.toMatchObject({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' });
    }
    expect(fs.readdirSync(root)).toEqual([]);
    expect(fs.readdirSync(parent)).toEqual(['root']);
    // the longest allowed name works
    const log = await m.log('n'.repeat(200));
    await log.durable(log.append('ok'));
    // and so do names in NFC with characters outside the BMP
    const nfc = await m.log('caf\u00e9-\u{1F600}');
    await nfc.durable(nfc.append('ok'));
    await m.close();
    expect(m.list()).toEqual(['caf\u00e9-\u{1F600}', 'n'.repeat(200)]);
  });

  it('opens a log once, reuses it, and leaves ordinary log directories that openLog reads', async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 2 });
    const [a1, a2] = await Promise.all([m.log('tenant-a'), m.log('tenant-a')]);
    expect(a1).toBe(a2);
    expect(await m.log('tenant-a')).toBe(a1);
    const b = await m.log('tenant-b', { shards: 2 });
    for (let i = 0; i < 100; i++) {
      a1.append(`a${i}`);
      b.append(`b${i}`);
    }
    await Promise.all([a1.durable(), b.durable()]);
    const st = m.stats();
    expect(st).toMatchObject({ openLogs: 2, logsCreated: 2, logsOpened: 2, logsReused: 2, entries: 200 });
    expect(st.threads).toBe(2);
    expect(st.hostedWriters).toBe(3);
    expect(st.logs['tenant-a'].entries).toBe(100);
    expect(st.logs['tenant-b'].shards).toHaveLength(2);
    expect(st.fsyncs).toBeGreaterThan(0);
    expect(m.list()).toEqual(['tenant-a', 'tenant-b']);
    await m.close();
    expect(() => a1.append('late')).toThrow(LogClosedError);
    await expect(m.log('tenant-a')).rejects.toBeInstanceOf(LogClosedError);
    expect(readAll(path.join(root, 'tenant-a')).map((e) => e.text)).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`));
    // openLog opens it as is (the lock was released), and a new manager reopens it where it was
    const direct = await openLog({ dir: path.join(root, 'tenant-b') });
    expect(direct.nextSeq).toBe(101);
    await direct.close();
    const m2 = await openLogManager({ root, writers: 1 });
    const again = await m2.log('tenant-a');
    expect(again.nextSeq).toBe(101);
    expect(m2.stats()).toMatchObject({ logsCreated: 0, logsOpened: 1 });
    await m2.close();
  });

  it('keeps within maxOpenLogs by closing the least recently used log, which reopens on demand', async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 1, maxOpenLogs: 2 });
    const a = await m.log('a');
    a.append('a1');
    await m.log('b');
    await m.log('a'); // a is now the most recently used
    const c = await m.log('c'); // closes b
    expect(m.stats()).toMatchObject({ openLogs: 2, logsEvicted: 1 });
    expect(Object.keys(m.stats().logs).sort()).toEqual(['a', 'c']);
    c.append('c1');
    const b = await m.log('b'); // closes a (its entries made durable by close), reopens b
    b.append('b1');
    expect(a.stats().state).toBe('closed');
    expect(readAll(path.join(root, 'a')).map((e) => e.text)).toEqual(['a1']);
    const a2 = await m.log('a');
    expect(a2).not.toBe(a);
    expect(a2.nextSeq).toBe(2);
    expect(m.stats()).toMatchObject({ logsOpened: 5, logsCreated: 3, logsEvicted: 3, entries: 3 });
    await m.close();
    expect(m.list()).toEqual(['a', 'b', 'c']);
  });

  it("with onLimit 'error', refuses to open past maxOpenLogs with TooManyLogsError", async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 1, maxOpenLogs: 1, onLimit: 'error' });
    await m.log('one');
    const err = await m.log('two').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyLogsError);
    expect((err as TooManyLogsError).code).toBe('ERR_SHARDLOG_TOO_MANY_LOGS');
    expect(fs.existsSync(path.join(root, 'two'))).toBe(false);
    await m.close();
  });

  it('opens asked for all at once past maxOpenLogs all settle: evicting, within the limit, nothing lost', async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 2, maxOpenLogs: 2 });
    const names = ['p', 'q', 'r', 's', 't'];
    // each call appends as soon as its log is open; an append that finds its log already evicted
    // (a later open closed it) asks the manager again
    const appendTo = async (name: string): Promise<void> => {
      for (;;) {
        const log = await m.log(name);
        try {
          await log.durable(log.append(`to ${name}`));
          return;
        } catch (e) {
          if (!(e instanceof LogClosedError)) throw e;
        }
      }
    };
    await Promise.all(names.map(appendTo));
    expect(m.stats().openLogs).toBeLessThanOrEqual(2);
    expect(m.stats().logsEvicted).toBeGreaterThanOrEqual(3);
    await m.close();
    for (const n of names) expect(readAll(path.join(root, n)).map((e) => e.text)).toEqual([`to ${n}`]);
  });

  it("with onLimit 'error', opens asked for all at once: those that fit open, the rest get TooManyLogsError", async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 1, maxOpenLogs: 2, onLimit: 'error' });
    const got = await Promise.allSettled(['p', 'q', 'r', 's'].map((n) => m.log(n)));
    expect(got.filter((g) => g.status === 'fulfilled')).toHaveLength(2);
    const refused = got.filter((g): g is PromiseRejectedResult => g.status === 'rejected');
    expect(refused).toHaveLength(2);
    for (const r of refused) expect(r.reason).toBeInstanceOf(TooManyLogsError);
    expect(m.stats().openLogs).toBe(2);
    await m.close();
  });

  it("refuses openLog's dir and flushOnExit, for the manager and for one log, instead of ignoring them", async () => {
    const root = tmpDir();
    await expect(openLogManager({ root, dir: '/elsewhere' } as never)).rejects.toThrow(/option dir is not for a managed log/);
    await expect(openLogManager({ root, flushOnExit: false } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    const m = await openLogManager({ root, writers: 1 });
    await expect(m.log('a', { dir: '/elsewhere' } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(m.log('a', { flushOnExit: true } as never)).rejects.toThrow(/flushOnExit is not for a managed log/);
    expect(fs.existsSync(path.join(root, 'a'))).toBe(false);
    await m.close();
  });

  it('a log(name) asked for after drop(name) opens a fresh log once the drop is done, never the dropped one', async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 1 });
    // the log open: drop, then ask again in the same tick
    const old = await m.log('x');
    old.append('before the drop');
    const dropped = m.drop('x');
    const fresh = m.log('x');
    expect(await dropped).toBe(true);
    const log = await fresh;
    expect(log).not.toBe(old);
    expect(old.stats().state).toBe('closed');
    await log.durable(log.append('after the drop'));
    expect(await m.log('x')).toBe(log);
    // an open still in flight when the drop comes: that open is refused, the one asked for after opens
    const inFlight = m.log('y');
    const d2 = m.drop('y');
    const y = m.log('y');
    await expect(inFlight).rejects.toThrow(/was dropped while it was opening/);
    await d2;
    await (await y).durable((await y).append('y after the drop'));
    await expect(m.close()).resolves.toBeUndefined();
    await expect(m.drop('x')).rejects.toBeInstanceOf(LogClosedError); // after close
    expect(readAll(path.join(root, 'x')).map((e) => e.text)).toEqual(['after the drop']);
    expect(readAll(path.join(root, 'y')).map((e) => e.text)).toEqual(['y after the drop']);
  });

  it('closes logs left idle for idleCloseMs, and drop() removes a log', async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 1, idleCloseMs: 40 });
    const idle = await m.log('idle');
    idle.append('x');
    const deadline = Date.now() + 10_000;
    while ((m.stats().openLogs > 0 || m.stats().hostedWriters > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(m.stats()).toMatchObject({ openLogs: 0, logsIdleClosed: 1, hostedWriters: 0 });
    expect(idle.stats().state).toBe('closed');
    expect(readAll(path.join(root, 'idle')).map((e) => e.text)).toEqual(['x']);
    await m.log('gone');
    expect(m.list()).toEqual(['gone', 'idle']);
    expect(await m.drop('gone')).toBe(true);
    expect(await m.drop('idle')).toBe(true);
    expect(await m.drop('never')).toBe(false);
    expect(m.list()).toEqual([]);
    expect(fs.readdirSync(root)).toEqual([]);
    expect(m.stats().logsDropped).toBe(2);
    await m.close();
  });

  it('makes every open log durable when the process exits without close()', () => {
    const root = tmpDir();
    const r = spawnSync(process.execPath, [fixture('manager-exit.mjs'), root], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const name of ['a', 'b']) expect(readAll(path.join(root, name)).map((e) => e.text)).toEqual(Array.from({ length: 50 }, (_, i) => `${name}${i}`));
  });

  it("runs the README's example as written", async () => {
    const doc = readme();
    const at = doc.indexOf('<!-- section: manager -->');
    const code = /```js\n([\s\S]*?)^```$/m.exec(doc.slice(at))![1];
    const r = await runModule(code);
    expect(r.code, r.stderr).toBe(0);
    expect(readAll(path.join(r.cwd, 'data/tenants/acme')).map((e) => e.text)).toEqual(['INSERT row 1']);
  });

  it('a pool thread that dies fails the logs it hosted (never a hang), and new logs go to a new thread', async () => {
    const root = tmpDir();
    const m = await openLogManager({ root, writers: 1 });
    const neighbour = await m.log('neighbour');
    const doomed = await m.log('doomed', { testFaults: { exitAfterBatches: 1 } } as never);
    await expect(doomed.durable(doomed.append('x'))).rejects.toMatchObject({ code: 'ERR_SHARDLOG_SHARD_FAILED' });
    expect(neighbour.failure).toBeDefined(); // it shared the thread
    expect(() => neighbour.append('y')).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_SHARD_FAILED' }));
    const fresh = await m.log('fresh');
    await fresh.durable(fresh.append('z'));
    expect(m.stats().threads).toBe(1);
    await expect(m.close()).rejects.toMatchObject({ code: 'ERR_SHARDLOG_SHARD_FAILED' });
    expect(readAll(path.join(root, 'fresh')).map((e) => e.text)).toEqual(['z']);
    // each log recovers on its own at the next open
    const m2 = await openLogManager({ root, writers: 1 });
    for (const name of ['doomed', 'neighbour', 'fresh']) await m2.log(name);
    await m2.close();
  });
});
