/**
 * The pino destination, driven by pino itself: lines on disk (NDJSON and framed), pino.multistream,
 * fatal()'s synchronous flush, reopen(), failures as 'error' events, and no lost lines when the
 * process exits through process.exit(), an uncaught exception or SIGTERM (in child processes).
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import { openLog, readLogSync, shardlogDestination, ShardlogDestination } from '@shardlog/core';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logDir, runModule, segmentFiles, type ChildResult } from './helpers.js';

/** Every line of every segment of a lines-format log, parsed. */
function linesOf(dir: string, shards: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let s = 0; s < shards; s++) {
    for (const f of segmentFiles(dir, s)) {
      const text = fs.readFileSync(f, 'utf8');
      expect(text === '' || text.endsWith('\n')).toBe(true);
      for (const l of text.split('\n')) if (l !== '') out.push(JSON.parse(l) as Record<string, unknown>);
    }
  }
  return out;
}

async function closed(dest: ShardlogDestination): Promise<void> {
  const p = once(dest, 'close');
  dest.end();
  await p;
}

describe('pino destination', () => {
  it('writes every pino line as plain NDJSON by default, and ends with finish then close', async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 2 });
    const logger = pino(dest);
    for (let i = 0; i < 1000; i++) logger.info({ i }, 'hello');
    const events: string[] = [];
    dest.on('finish', () => events.push('finish'));
    await closed(dest);
    events.push('close');
    expect(events).toEqual(['finish', 'close']);
    const lines = linesOf(dir, 2);
    expect(lines).toHaveLength(1000);
    expect(lines.map((l) => l.i).sort((a, b) => (a as number) - (b as number))).toEqual([...Array(1000).keys()]);
    expect(lines.every((l) => l.msg === 'hello' && l.level === 30)).toBe(true);
    expect(fs.existsSync(`${dir}/shardlog.lock`)).toBe(false); // the destination owned the log and closed it
  });

  it("keeps lines written before 'ready'", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 1 });
    const logger = pino(dest);
    expect(dest.log).toBeUndefined();
    logger.info('early 1');
    logger.info('early 2');
    await once(dest, 'ready');
    logger.info('late');
    await closed(dest);
    expect(linesOf(dir, 1).map((l) => l.msg)).toEqual(['early 1', 'early 2', 'late']);
  });

  it("keeps lines written before 'ready' even when they take more than half the ring", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 1, ringBytes: 64 * 1024 });
    const logger = pino(dest);
    const pad = 'p'.repeat(500);
    for (let i = 0; i < 200; i++) logger.info({ i, pad }, 'early'); // ~120 KB, more than the ring
    await once(dest, 'ready');
    logger.info('late');
    await closed(dest);
    const lines = linesOf(dir, 1);
    expect(lines.map((l) => l.i ?? l.msg)).toEqual([...[...Array(200).keys()], 'late']);
  });

  it("stores one framed record per line with format 'framed', in logging order", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 3, format: 'framed' });
    await once(dest, 'ready');
    const logger = pino(dest);
    for (let i = 0; i < 300; i++) logger.warn({ i }, 'framed');
    await closed(dest);
    const entries = [...readLogSync({ dir })];
    expect(entries).toHaveLength(300);
    expect(entries.map((e) => (JSON.parse(e.text()) as { i: number }).i)).toEqual([...Array(300).keys()]);
    expect(entries.some((e) => e.text().endsWith('\n'))).toBe(false);
    expect(new Set(entries.map((e) => e.shard)).size).toBe(3);
  });

  it('works under pino.multistream, each stream getting its levels', async () => {
    const all = logDir('all');
    const errors = logDir('errors');
    const a = shardlogDestination({ dir: all, shards: 1 });
    const b = shardlogDestination({ dir: errors, shards: 1 });
    await Promise.all([once(a, 'ready'), once(b, 'ready')]);
    const logger = pino({ level: 'debug' }, pino.multistream([{ stream: a, level: 'debug' }, { stream: b, level: 'error' }]));
    logger.debug('d');
    logger.info('i');
    logger.error('e1');
    logger.fatal('f');
    logger.error('e2');
    const done = Promise.all([once(a, 'close'), once(b, 'close')]);
    ((logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { end(): void }).end(); // multistream.end(): flushSync + end on each
    await done;
    expect(linesOf(all, 1).map((l) => l.msg)).toEqual(['d', 'i', 'e1', 'f', 'e2']);
    expect(linesOf(errors, 1).map((l) => l.msg)).toEqual(['e1', 'f', 'e2']);
  });

  it('fatal() returns only once the line is fdatasynced (flushSync), whatever the sync policy', async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 2, sync: 'none' });
    await once(dest, 'ready');
    const logger = pino(dest);
    for (let i = 0; i < 50; i++) logger.info({ i }, 'before');
    logger.fatal('going down');
    // With sync 'none' nothing is synced unless asked: durable lag 0 right after fatal() is flushSync's doing.
    const st = dest.log!.stats();
    expect(st.fsyncs).toBeGreaterThan(0);
    expect(st.durableLagBytes).toBe(0);
    expect(st.shards.every((s) => s.pendingBytes === 0)).toBe(true);
    expect(st.entries).toBe(51);
    await closed(dest);
  });

  it('logger.flush(cb) calls back once the lines are durable', async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 1, sync: 'none' });
    const logger = pino(dest);
    logger.info('x');
    await new Promise<void>((resolve, reject) => logger.flush((e) => (e ? reject(e) : resolve())));
    expect(dest.log!.stats().durableLagBytes).toBe(0);
    expect(dest.log!.stats().entries).toBe(1);
    await closed(dest);
  });

  it('reopen() rolls every shard to a new segment file, starting with its next line', async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 2 });
    await once(dest, 'ready'); // (lines written before 'ready' are appended together, into one shard)
    const logger = pino(dest);
    for (let i = 0; i < 4; i++) logger.info({ i }, 'first file');
    await new Promise((r) => logger.flush(r));
    await dest.reopen(); // every shard leaves its file; the next line of each starts a new one
    for (let i = 0; i < 4; i++) logger.info({ i }, 'second file');
    await closed(dest);
    let firstLines = 0;
    for (const s of [0, 1]) {
      const files = segmentFiles(dir, s);
      expect(files).toHaveLength(2);
      firstLines += fs.readFileSync(files[0], 'utf8').split('first file').length - 1;
      const second = fs.readFileSync(files[1], 'utf8');
      expect(second).toContain('second file');
      expect(second).not.toContain('first file');
    }
    expect(firstLines).toBe(4);
  });

  it("reports a failed log once as 'error', then drops lines without throwing into the logger", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 1, testFaults: { writeFailAt: 1 } });
    const logger = pino(dest);
    await once(dest, 'ready');
    logger.info('lost in the failed write');
    const errors: Error[] = [];
    dest.on('error', (e) => errors.push(e));
    await expect(new Promise<void>((resolve, reject) => logger.flush((e) => (e ? reject(e) : resolve())))).rejects.toMatchObject({
      code: 'ERR_SHARDLOG_SHARD_FAILED',
    });
    const drops: unknown[] = [];
    dest.on('drop', (l) => drops.push(l));
    expect(() => logger.info('after the failure')).not.toThrow();
    logger.info('and another');
    await new Promise((r) => setImmediate(r));
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error & { code: string }).code).toBe('ERR_SHARDLOG_SHARD_FAILED');
    expect(drops).toHaveLength(2);
    expect(dest.dropped).toBe(2);
    const close = once(dest, 'close');
    dest.end();
    await close; // still closes (the log's close rejects: reported once as 'error' above, not again)
    expect(errors).toHaveLength(1);
  });

  it('writes into a log you opened, and leaves it open on end()', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, format: 'lines' });
    const dest = shardlogDestination({ log });
    pino(dest).info('via pino');
    await closed(dest);
    log.append('by hand');
    await log.close();
    expect(fs.readFileSync(segmentFiles(dir, 0)[0], 'utf8')).toMatch(/"msg":"via pino"\}\nby hand\n$/);
  });

  it('rejects bad options at once', () => {
    expect(() => shardlogDestination({ dir: logDir(), shards: 0 })).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' }));
    expect(() => shardlogDestination({ dir: logDir(), signals: ['TERM' as NodeJS.Signals] })).toThrow(/signals/);
    expect(() => shardlogDestination({} as never)).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' }));
  });
});

/**
 * A child process that logs 400 lines of 100 KB through pino and then leaves abruptly. With
 * maxBatchBytes at its minimum each line is its own batch and its own fdatasync, so the lines come
 * faster than the writers drain them: megabytes are still in the rings when it leaves (it says how
 * many), and without the destination's synchronous drain at exit many lines are lost (checked by
 * hand with flushOnExit: false: 18 to 279 of the 400 lines survived).
 */
const CHILD = `
import pino from 'pino';
import { once } from 'node:events';
import { shardlogDestination } from '@shardlog/core';
const { DIR, MODE } = process.env;
// the writers sleep 2 ms per 4 KiB batch, so megabytes are still in the rings when the process goes
const dest = shardlogDestination({ dir: DIR, shards: 2, ringBytes: 64 << 20, maxBatchBytes: 4096, testFaults: { batchDelayMs: 2 }, signals: MODE === 'sigterm' ? ['SIGTERM'] : [] });
await once(dest, 'ready');
const logger = pino(dest);
const pad = 'x'.repeat(100_000);
for (let i = 0; i < 400; i++) logger.info({ i }, pad);
const pending = dest.log.stats().shards.reduce((a, s) => a + s.pendingBytes, 0);
process.stderr.write('pending at exit: ' + pending + '\\n');
if (MODE === 'exit') process.exit(3);
if (MODE === 'throw') setImmediate(() => { throw new Error('boom'); });
// a service is alive when SIGTERM comes (the log's writer threads do not keep a process alive)
if (MODE === 'sigterm') { setInterval(() => {}, 1000); process.kill(process.pid, 'SIGTERM'); }
`;

async function runChild(mode: string): Promise<ChildResult & { dir: string }> {
  const dir = logDir();
  return { dir, ...(await runModule(CHILD, { DIR: dir, MODE: mode })) };
}

function expectAll400({ dir, stderr }: { dir: string; stderr: string }): void {
  const pending = /pending at exit: (\d+)/.exec(stderr);
  expect(pending, stderr).not.toBeNull();
  expect(Number(pending![1])).toBeGreaterThan(0); // there was something left to drain
  const lines = linesOf(dir, 2);
  expect(lines.map((l) => l.i).sort((a, b) => (a as number) - (b as number))).toEqual([...Array(400).keys()]);
  expect(lines.every((l) => (l.msg as string).length === 100_000)).toBe(true);
}

describe('pino destination: no lost lines when the process leaves', () => {
  it('on process.exit()', async () => {
    const r = await runChild('exit');
    expect(r.code).toBe(3);
    expectAll400(r);
  });

  it('on an uncaught exception', async () => {
    const r = await runChild('throw');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('boom');
    expectAll400(r);
  });

  it("on SIGTERM with signals: ['SIGTERM'], still dying by the signal", async () => {
    const r = await runChild('sigterm');
    expect(r.signal).toBe('SIGTERM');
    expectAll400(r);
    // the log opens again afterwards: the dead process's lock is stale and recovery finds whole lines
    const log = await openLog({ dir: r.dir, format: 'lines' });
    expect(log.recovery.map((s) => s.bytesCut)).toEqual([0, 0]);
    expect(log.recovery.reduce((a, s) => a + s.lines, 0)).toBe(400);
    await log.close();
  });
});

describe('pino destination: a log that cannot open', () => {
  it("emits 'error' with the cause and counts the lines it had to drop", async () => {
    const dir = logDir();
    const first = await openLog({ dir, shards: 1, format: 'lines' }); // holds the lock
    const dest = shardlogDestination({ dir, shards: 1 });
    pino(dest).info('nowhere to go');
    const [err] = (await once(dest, 'error')) as [Error & { code: string }];
    expect(err.code).toBe('ERR_SHARDLOG_LOCKED');
    expect(dest.dropped).toBe(1);
    expect(dest.log).toBeUndefined();
    await once(dest.end(), 'close');
    await first.close();
  });
});
