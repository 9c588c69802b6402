/**
 * Segment files: names, the 40-byte header byte by byte, rolling at segmentBytes across many sizes,
 * and the lock file (a second process is refused; a SIGKILLed owner does not block a restart).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogLockedError, openLog, verifyLog } from '@shardlog/core';
import { crc32c, maskCrc } from '@shardlog/workers';
import { fixture, logDir, readAll, records, segmentFiles, waitForLines } from './helpers.js';

// These tests damage version-1 segments (records with their own CRC, as older builds wrote them, which
// every reader, recovery and verify still handle) byte by byte; files-frames.test.ts does the same to
// version-2 frames.
process.env.SHARDLOG_TEST_SEGMENT_VERSION = '1';

describe('segment files', () => {
  it('are named <shard>/<first seq, 20 digits>.wal and start with the documented header', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, segmentBytes: 4096 });
    for (let i = 0; i < 10; i++) log.append(`entry ${i}`);
    await log.close();
    expect(fs.readdirSync(dir).sort()).toEqual(['000', '001', 'shardlog.json']);
    const f = segmentFiles(dir, 1)[0];
    expect(path.relative(dir, f)).toBe(path.join('001', '00000000000000000002.wal'));
    const b = fs.readFileSync(f);
    expect(b.subarray(0, 8).toString('latin1')).toBe('SHARDLOG');
    expect(b.readUInt16LE(8)).toBe(1); // version
    expect(b.readUInt16LE(10)).toBe(1); // record format: framed
    expect(b.readUInt16LE(12)).toBe(1); // shard
    expect(b.readUInt16LE(14)).toBe(0);
    expect(b.readUInt32LE(16) + b.readUInt32LE(20) * 2 ** 32).toBe(2); // first seq
    expect(b.readUInt32LE(24) + b.readUInt32LE(28) * 2 ** 32).toBe(0); // prevMaxSeq
    expect(b.readUInt32LE(32)).toBe(0);
    expect(b.readUInt32LE(36)).toBe(maskCrc(crc32c(b, 0, 36)));
    // first record right after the header: length 16 + 7, crc, seq 2, type utf8
    expect(b.readInt32LE(40)).toBe(16 + 'entry 1'.length);
    expect(b.readUInt32LE(48)).toBe(2);
    expect(b.readUInt32LE(52) >>> 24).toBe(2);
    expect(b.subarray(56, 63).toString()).toBe('entry 1');
    expect(b.subarray(63, 64)).toEqual(Buffer.alloc(1)); // padding to 8 bytes
    expect(b.readUInt32LE(44)).toBe(maskCrc(crc32c(Buffer.concat([b.subarray(40, 44), b.subarray(48, 63)]))));
  });

  it('roll at segmentBytes, across many sizes: every entry kept, in order, names and headers linked', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 4096, max: 20000 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 20, maxLength: 120 }),
        fc.integer({ min: 1, max: 8 }),
        async (segmentBytes, sizes, every) => {
          const dir = logDir();
          const log = await openLog({ dir, shards: 1, segmentBytes });
          const want: string[] = [];
          for (const [i, n] of sizes.entries()) {
            const p = `${i}:` + 'x'.repeat(n);
            want.push(p);
            log.append(p);
            if (i % every === 0) await log.durable(); // vary the batch sizes
          }
          await log.close();
          expect(readAll(dir).map((e) => e.text)).toEqual(want);
          const segs = segmentFiles(dir);
          let prevMax = 0;
          for (const [k, f] of segs.entries()) {
            const size = fs.statSync(f).size;
            const recs = records(f);
            expect(recs.length).toBeGreaterThan(0);
            expect(recs.at(-1)!.offset + recs.at(-1)!.size).toBe(size); // nothing but whole records
            expect(recs[0].seq).toBe(Number(path.basename(f, '.wal'))); // named for its first seq
            expect(fs.readFileSync(f).readUInt32LE(24)).toBe(prevMax); // linked to the one before
            prevMax = recs.at(-1)!.seq;
            // a segment is only left once it reached segmentBytes (a batch may carry it past)
            if (k < segs.length - 1) expect(size).toBeGreaterThanOrEqual(segmentBytes);
          }
          expect((await verifyLog({ dir, threads: 0 })).ok).toBe(true);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('rotate() rolls every shard at its next write', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    log.append('a');
    log.append('b');
    await log.durable();
    await log.rotate();
    log.append('c');
    log.append('d');
    await log.close();
    expect(segmentFiles(dir, 0).map((f) => path.basename(f))).toEqual(['00000000000000000001.wal', '00000000000000000003.wal']);
    expect(segmentFiles(dir, 1).map((f) => path.basename(f))).toEqual(['00000000000000000002.wal', '00000000000000000004.wal']);
  });
});

describe('lock file', () => {
  it('refuses a second open in this process, and a second process, naming the pid', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    await expect(openLog({ dir, shards: 1 })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_LOCKED', pid: process.pid });
    await log.close();
    const child = spawn(process.execPath, [fixture('lock-holder.mjs'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitForLines(child, (l) => l.some((x) => x.startsWith('open')));
      const e = await openLog({ dir }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(LogLockedError);
      expect(e).toMatchObject({ code: 'ERR_SHARDLOG_LOCKED', pid: child.pid });
      expect((e as Error).message).toContain(`locked by process ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
    }
    // SIGKILLed: the lock file is left behind, with a pid that no longer runs; a restart takes it over
    // (its first line is the pid; then the start time and a token)
    expect(fs.readFileSync(path.join(dir, 'shardlog.lock'), 'utf8').split('\n')[0]).toBe(String(child.pid));
    const again = await openLog({ dir });
    expect(fs.readFileSync(path.join(dir, 'shardlog.lock'), 'utf8').split('\n')[0]).toBe(String(process.pid));
    await again.close();
    expect(fs.existsSync(path.join(dir, 'shardlog.lock'))).toBe(false);
  });
});
