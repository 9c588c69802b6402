/**
 * Log rotation with a lines log, as pino users do it: logrotate's copytruncate (the segment is
 * truncated under the writer: no hole of NUL bytes may follow), each shard's current.log symlink
 * (replaced on every roll), and sonic-boom's reopen(file) (a stable name for a one-shard log).
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { shardlogDestination } from '@shardlog/core';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logDir, segmentFiles, tmpDir } from './helpers.js';

function msgs(text: string): unknown[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { i: number }).i);
}

describe('copytruncate', () => {
  it('a segment truncated while logging goes on holds no NUL byte, only the lines after the truncation', async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, sync: true });
    const logger = pino(dest);
    for (let i = 0; i < 100; i++) logger.info({ i });
    dest.flushSync();
    const [file] = segmentFiles(dir, 0);
    expect(fs.statSync(file).size).toBeGreaterThan(1000);
    fs.truncateSync(file, 0); // what logrotate's copytruncate does after copying
    for (let i = 100; i < 200; i++) logger.info({ i });
    await once(dest.end(), 'close');
    const bytes = fs.readFileSync(file);
    expect(bytes.includes(0)).toBe(false);
    expect(msgs(bytes.toString('utf8'))).toEqual([...Array(100).keys()].map((i) => i + 100));
  });
});

describe('stable file names', () => {
  it("each lines shard's current.log follows its current segment across rolls", async () => {
    const dir = logDir();
    const dest = shardlogDestination({ dir, shards: 2, sync: true });
    const logger = pino(dest);
    for (let i = 0; i < 10; i++) logger.info({ i });
    dest.flushSync();
    const first = segmentFiles(dir, 0);
    expect(fs.readlinkSync(path.join(dir, '000', 'current.log'))).toBe(path.basename(first.at(-1)!));
    await dest.reopen();
    logger.info({ i: 10 });
    dest.flushSync();
    for (const s of [0, 1]) {
      const segs = segmentFiles(dir, s);
      const link = path.join(dir, String(s).padStart(3, '0'), 'current.log');
      expect(fs.readlinkSync(link)).toBe(path.basename(segs.at(-1)!));
    }
    expect(segmentFiles(dir, 0).length + segmentFiles(dir, 1).length).toBe(3); // the symlink is no segment
    await once(dest.end(), 'close');
  });

  it('reopen(file) rolls and makes file a stable name of the current segment; a sharded log refuses it', async () => {
    const dir = logDir();
    const file = path.join(tmpDir(), 'app.log');
    const dest = shardlogDestination({ dir, sync: true });
    const logger = pino(dest);
    logger.info({ i: 0 });
    await dest.reopen(file);
    logger.info({ i: 1 });
    dest.flushSync();
    expect(msgs(fs.readFileSync(file, 'utf8'))).toEqual([1]);
    await dest.reopen(file);
    logger.info({ i: 2 });
    dest.flushSync();
    expect(msgs(fs.readFileSync(file, 'utf8'))).toEqual([2]);
    await once(dest.end(), 'close');

    const sharded = shardlogDestination({ dir: logDir('two'), shards: 2, sync: true });
    await expect(sharded.reopen(file)).rejects.toMatchObject({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' });
    await once(sharded.end(), 'close');
  });
});
