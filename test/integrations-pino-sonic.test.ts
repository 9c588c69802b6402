/**
 * The pino destination's sonic-boom manners that sonic-boom's own suite (test/sonic-boom-suite.test.ts)
 * turned up: 'finish' and 'close' back to back with the log closed by then, flush() emitting 'drain'
 * and failing after destroy(), 'ready' before any flush callback, reopen() emitting 'ready' and
 * 'drain', and lines written before 'ready' bounded like a ring (false past maxFill, then 'drain';
 * past a whole ring the open is finished at once, or with onFull 'throw' the line is refused).
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import { LogClosedError, RingFullError, shardlogDestination } from '@shardlog/core';
import { describe, expect, it } from 'vitest';
import { logDir, segmentFiles } from './helpers.js';

/** The lines of every segment of shard 0 of a lines-format log. */
function diskLines(dir: string): string[] {
  return segmentFiles(dir, 0).flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l !== ''));
}

const LINE = `${JSON.stringify({ msg: 'early', pad: 'x'.repeat(1000) })}\n`;
/** Ring bytes of LINE: a 16-byte record header, the line, rounded up to 8. */
const LINE_RING = (16 + LINE.length + 7) & ~7;

describe('end, flush and reopen events (as sonic-boom)', () => {
  it("emits 'close' right after 'finish', with the log already closed (its lock released)", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, sync: true });
    dest.write('one\n');
    const events: string[] = [];
    dest.on('close', () => events.push('close'));
    const reopened = new Promise<boolean>((resolve) => {
      dest.on('finish', () => {
        events.push('finish');
        // the log is closed by now: a new destination can take its lock at once
        const again = shardlogDestination({ dir, sync: true });
        again.end();
        resolve(again.log !== undefined);
      });
    });
    dest.end();
    expect(await reopened).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['finish', 'close']);
    expect(diskLines(dir)).toEqual(['one']);
  });

  it("flush(cb) emits 'drain' before calling back", async () => {
    const dest = shardlogDestination({ dir: logDir(), sync: true });
    const events: string[] = [];
    dest.on('drain', () => events.push('drain'));
    dest.write('one\n');
    await new Promise<void>((resolve) => dest.flush(() => (events.push('flushed'), resolve())));
    expect(events).toEqual(['drain', 'flushed']);
    await once(dest.end(), 'close');
  });

  it('flush(cb) after destroy() calls back with a LogClosedError', async () => {
    const dest = shardlogDestination({ dir: logDir(), sync: true });
    dest.on('error', () => undefined);
    dest.destroy();
    const err = await new Promise<Error | null | undefined>((resolve) => dest.flush(resolve));
    expect(err).toBeInstanceOf(LogClosedError);
  });

  it("emits 'ready' before a flush callback, even when flush() is called from a promise job", async () => {
    await Promise.resolve(); // from here on this test runs in a promise job: process.nextTick comes after it
    const dest = shardlogDestination({ dir: logDir(), sync: true });
    const events: string[] = [];
    dest.on('ready', () => events.push('ready'));
    await new Promise<void>((resolve) => dest.flush(() => (events.push('flushed'), resolve())));
    expect(events).toEqual(['ready', 'flushed']);
    await once(dest.end(), 'close');
  });

  it("reopen() emits 'ready', then 'drain'", async () => {
    const dest = shardlogDestination({ dir: logDir(), sync: true });
    await once(dest, 'ready');
    const events: string[] = [];
    dest.on('ready', () => events.push('ready'));
    const drained = new Promise<void>((resolve) => dest.on('drain', () => (events.push('drain'), resolve())));
    dest.write('before\n');
    await dest.reopen();
    await drained;
    expect(events).toEqual(['ready', 'drain']);
    await once(dest.end(), 'close');
  });
});

describe("lines written before 'ready' are bounded like a ring", () => {
  it("write() returns false past maxFill of a ring, 'drain' follows once they are written", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, ringBytes: 64 * 1024 });
    let written = 0;
    while (dest.write(LINE)) if (++written > 1000) break;
    written++;
    expect(dest.log).toBeUndefined(); // still opening: these lines wait in memory
    expect(written).toBe(Math.floor((32 * 1024) / LINE_RING) + 1); // refused just past half the 64 KiB ring
    expect(dest.writableNeedDrain).toBe(true);
    await once(dest, 'drain');
    expect(dest.writableNeedDrain).toBe(false);
    await once(dest.end(), 'close');
    expect(diskLines(dir)).toHaveLength(written);
  });

  it('a line past a whole ring finishes the open first, and nothing is lost', async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, ringBytes: 64 * 1024 });
    const perRing = Math.floor((64 * 1024) / LINE_RING);
    for (let i = 0; i < perRing; i++) dest.write(LINE);
    expect(dest.log).toBeUndefined();
    dest.write(LINE); // one more would pass the ring: the open is finished now, blocking
    expect(dest.log).toBeDefined();
    for (let i = 0; i < 100; i++) dest.write(LINE);
    await once(dest.end(), 'close');
    expect(diskLines(dir)).toHaveLength(perRing + 101);
    expect(dest.dropped).toBe(0);
  });

  it("with onFull 'throw', a line past half a ring is refused (RingFullError), counted; the others are kept", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, ringBytes: 64 * 1024, onFull: 'throw' });
    const errors: Error[] = [];
    dest.on('error', (e: Error) => errors.push(e));
    const perHalfRing = Math.floor((32 * 1024) / LINE_RING);
    for (let i = 0; i < perHalfRing; i++) dest.write(LINE);
    expect(dest.write(LINE)).toBe(false);
    expect(dest.log).toBeUndefined();
    expect(dest.dropped).toBe(1);
    await new Promise((resolve) => setImmediate(resolve)); // 'error' comes on the next tick
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RingFullError);
    await once(dest.end(), 'close');
    expect(diskLines(dir)).toHaveLength(perHalfRing);
  });
});
