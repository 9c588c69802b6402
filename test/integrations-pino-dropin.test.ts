/**
 * The pino destination as a pino user meets it: lines logged before the log opens survive an
 * immediate process.exit() (with and without sync: true), openLogSync (usable at once, the same
 * error classes as openLog), flushSync() before 'ready', one ordered file by default, a second
 * process on a locked log that keeps running, and pino.transport() with '@shardlog/core/transport'
 * (alone and beside pino-pretty) keeping every line through flush, end and process exit.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptLogError, LogLockedError, openLog, openLogSync, shardlogDestination, WriterStartError } from '@shardlog/core';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { flipByte, logDir, records, runModule, segmentFiles, writeLog } from './helpers.js';

/** The lines of every segment of every shard of a lines-format log. */
function diskLines(dir: string): string[] {
  const out: string[] = [];
  for (const s of fs.readdirSync(dir).filter((n) => /^\d{3}$/.test(n))) {
    for (const f of segmentFiles(dir, Number(s))) for (const l of fs.readFileSync(f, 'utf8').split('\n')) if (l !== '') out.push(l);
  }
  return out;
}

const EARLY_EXIT = `
import pino from 'pino';
import { shardlogDestination } from '@shardlog/core';
const logger = pino(shardlogDestination({ dir: process.env.DIR, sync: process.env.SYNC === '1' }));
for (let i = 0; i < 200000; i++) logger.info({ i }, 'early');
process.exit(0);
`;

describe('lines logged before the log opens', () => {
  for (const sync of [false, true]) {
    it(`all 200,000 are on disk after an immediate process.exit() (sync: ${sync})`, async () => {
      const dir = logDir();
      const r = await runModule(EARLY_EXIT, { DIR: dir, SYNC: sync ? '1' : '0' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      const lines = diskLines(dir);
      expect(lines).toHaveLength(200_000);
      expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(200_000).keys()]); // in order, one file
    }, 30_000);
  }

  it('flushSync() before ready opens the log and makes them durable', () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir });
    const logger = pino(dest);
    logger.info('before ready');
    expect(dest.log).toBeUndefined();
    dest.flushSync();
    expect(dest.log).toBeDefined();
    expect(diskLines(dir).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['before ready']);
    dest.end();
  });

  it('sync: true opens before the constructor returns', async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, sync: true });
    expect(dest.log).toBeDefined();
    pino(dest).info('at once');
    dest.flushSync();
    expect(diskLines(dir)).toHaveLength(1);
    await once(dest.end(), 'close');
  });
});

describe('openLogSync', () => {
  it('returns an open log, usable at once', async () => {
    const dir = logDir();
    const log = openLogSync({ dir, shards: 2 });
    expect(log.recovery).toHaveLength(2);
    const seq = log.append('one');
    expect(log.durableSync(5000)).toBe(true);
    await log.close();
    const again = openLogSync({ dir });
    expect(again.nextSeq).toBe(seq + 1);
    await again.close();
  });

  it('throws the errors openLog rejects with: LogLockedError, CorruptLogError, WriterStartError', async () => {
    const dir = logDir();
    const held = openLogSync({ dir, shards: 1 });
    expect(() => openLogSync({ dir })).toThrow(LogLockedError);
    await held.close();

    const corrupt = logDir('corrupt');
    await writeLog(corrupt, 50, { shards: 1, testFaults: { segmentVersion: 1 } }); // version 1: one record can be corrupt with valid ones after it
    const last = segmentFiles(corrupt).at(-1)!;
    const bad = records(last)[1];
    flipByte(last, bad.offset + 17);
    let err: unknown;
    try {
      openLogSync({ dir: corrupt });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptLogError);
    expect(err).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: last, offset: bad.offset });
    expect(fs.existsSync(path.join(corrupt, 'shardlog.lock'))).toBe(false); // released

    expect(() => openLogSync({ dir: logDir('w'), testFaults: { throwAtStart: true } })).toThrow(WriterStartError);
    expect(() => openLogSync({ dir: logDir('m'), workerUrl: path.join(logDir('none'), 'missing.js') })).toThrow(
      expect.objectContaining({ code: 'ERR_SHARDLOG_WRITER_START', message: expect.stringContaining('workerUrl') }),
    );
    expect(() => openLogSync({ dir: logDir('v'), verify: 'all' })).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' }));
  });
});

describe('one ordered file', () => {
  it('a new destination log has one shard; an existing log keeps its count', async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir });
    const logger = pino(dest);
    for (let i = 0; i < 500; i++) logger.info({ i });
    await once(dest.end(), 'close');
    expect(fs.readdirSync(dir).filter((n) => /^\d{3}$/.test(n))).toEqual(['000']);
    expect(diskLines(dir).map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(500).keys()]);

    const two = logDir('two');
    await (await openLog({ dir: two, shards: 2, format: 'lines' })).close();
    const d2 = shardlogDestination({ dir: two });
    await once(d2, 'ready');
    expect(d2.log!.shards).toBe(2);
    await once(d2.end(), 'close');
  });
});

const SECOND_PROCESS = `
import pino from 'pino';
import { openLog, shardlogDestination } from '@shardlog/core';
const held = await openLog({ dir: process.env.DIR, shards: 1, format: 'lines' });
const dest = shardlogDestination({ dir: process.env.DIR });
const logger = pino(dest);
logger.info('lost');
await new Promise((r) => setTimeout(r, 100));
console.log('still running, dropped ' + dest.dropped);
await held.close();
`;

describe('a second process on the same log', () => {
  it('keeps running: the failed open is reported (stderr without an error listener) and its lines counted as dropped', async () => {
    const dir = logDir();
    const r = await runModule(SECOND_PROCESS, { DIR: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('still running, dropped 1');
    expect(r.stderr).toMatch(/could not open.*lock/i);
  });
});

const TRANSPORT = `
import pino from 'pino';
const { DIR, MODE } = process.env;
const transport = MODE === 'targets'
  ? pino.transport({ targets: [
      { target: '@shardlog/core/transport', options: { dir: DIR } },
      { target: 'pino-pretty', options: { destination: DIR + '.pretty', colorize: false } },
    ] })
  : pino.transport({ target: '@shardlog/core/transport', options: { dir: DIR, format: MODE === 'framed' ? 'framed' : 'lines' } });
const logger = pino(transport);
for (let i = 0; i < 1000; i++) logger.info({ i }, 'via transport');
if (MODE === 'exit') process.exit(0);
logger.flush((err) => {
  if (err) throw err;
  console.log('flushed');
  transport.end();
});
`;

async function runTransport(mode: string): Promise<{ dir: string; stdout: string }> {
  const dir = logDir();
  const r = await runModule(TRANSPORT, { DIR: dir, MODE: mode });
  expect(r.code, r.stderr).toBe(0);
  return { dir, stdout: r.stdout };
}

function expectThousand(lines: string[]): void {
  expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(1000).keys()]);
}

describe('pino.transport({ target: "@shardlog/core/transport" })', () => {
  it('writes every line (flush, then end)', async () => {
    const { dir, stdout } = await runTransport('flush');
    expect(stdout).toContain('flushed');
    expectThousand(diskLines(dir));
  }, 30_000);

  it('writes every line when the process exits at once', async () => {
    const { dir } = await runTransport('exit');
    expectThousand(diskLines(dir));
  }, 30_000);

  it("stores one framed record per line with format 'framed'", async () => {
    const { dir } = await runTransport('framed');
    const { readLogSync } = await import('@shardlog/core');
    const texts = [...readLogSync({ dir })].map((e) => e.text());
    expectThousand(texts);
  }, 30_000);

  it('works in targets beside pino-pretty', async () => {
    const { dir } = await runTransport('targets');
    expectThousand(diskLines(dir));
    expect(fs.readFileSync(`${dir}.pretty`, 'utf8').match(/via transport/g)).toHaveLength(1000);
  }, 30_000);
});

describe('stream manners (as sonic-boom)', () => {
  it("write() returns false past maxFill, 'drain' follows, and no line is lost", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, sync: true, ringBytes: 64 * 1024, maxBatchBytes: 4096, testFaults: { batchDelayMs: 2 } });
    const line = `${JSON.stringify({ pad: 'x'.repeat(200) })}\n`;
    let written = 0;
    while (dest.write(line)) if (++written > 10_000) break;
    written++;
    expect(written).toBeLessThan(10_000); // refused long before: the slow writer let the ring fill
    expect(dest.writableNeedDrain).toBe(true);
    await once(dest, 'drain');
    expect(dest.writableNeedDrain).toBe(false);
    expect(dest.write(line)).toBe(true);
    written++;
    await once(dest.end(), 'close');
    expect(diskLines(dir)).toHaveLength(written);
    expect(dest.dropped).toBe(0);
  });

  it("emits 'write' with the bytes of each line", async () => {
    const dest = shardlogDestination({ dir: logDir(), sync: true });
    const sizes: number[] = [];
    dest.on('write', (n: number) => sizes.push(n));
    dest.write('héllo\n');
    dest.write(Buffer.from('abc\n'));
    expect(sizes).toEqual([7, 4]);
    await once(dest.end(), 'close');
  });

  it("destroy() closes without 'finish'; what was written is on disk, later lines are dropped", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, sync: true });
    const events: string[] = [];
    dest.on('finish', () => events.push('finish'));
    dest.on('error', () => events.push('error'));
    dest.write('kept\n');
    const closed = new Promise((resolve) => dest.on('close', resolve));
    dest.destroy();
    expect(dest.write('dropped\n')).toBe(false); // reported once as 'error' (LogClosedError), never thrown
    await closed;
    expect(events).toEqual(['error']);
    expect(diskLines(dir)).toEqual(['kept']);
    expect(dest.dropped).toBe(1);
  });
});
