/** Key rotation and rekeyLog: old segments rewritten under the new key, atomically; a crash (an injected failure) after any step loses nothing. */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KeyError, LogLockedError, openLog, readLogSync, rekeyLog, type EncryptionOptions } from '@shardlog/core';
import { copyDir, logDir, runCli, segmentFiles, tmpDir } from './helpers.js';

const key = (): Uint8Array => Uint8Array.from(randomBytes(32));
const k1 = key();
const k2 = key();

async function append(dir: string, enc: EncryptionOptions, from: number, n: number): Promise<void> {
  const log = await openLog({ dir, shards: 1, segmentBytes: 4096, sync: 'none', encryption: enc });
  for (let i = from; i < from + n; i++) {
    log.append(`entry ${i} ${'y'.repeat(i % 90)}`);
    if (i % 10 === 9) while (log.stats().entries < i - from + 1) await new Promise((r) => setImmediate(r));
  }
  await log.close();
}

const expected = (n: number): string[] => [...Array(n).keys()].map((i) => `entry ${i} ${'y'.repeat(i % 90)}`);
const texts = (dir: string, enc: EncryptionOptions): string[] => [...readLogSync({ dir, encryption: enc })].map((e) => e.text());
const keyIds = (dir: string): string[] => segmentFiles(dir).map((f) => fs.readFileSync(f).subarray(48, 64).toString('latin1').replace(/\0+$/, ''));

async function k1Log(): Promise<string> {
  const dir = logDir();
  await append(dir, { keys: { k1 }, keyId: 'k1' }, 0, 60);
  await append(dir, { keys: { k1 }, keyId: 'k1' }, 60, 20);
  return dir;
}

describe('rekeyLog', () => {
  it('rewrites every segment under the new key; the old key is then not needed', async () => {
    const dir = await k1Log();
    expect(new Set(keyIds(dir))).toEqual(new Set(['k1']));
    const res = await rekeyLog({ dir, keys: { k1, k2 }, keyId: 'k2' });
    expect(res.rewritten.length).toBe(segmentFiles(dir).length);
    expect(new Set(keyIds(dir))).toEqual(new Set(['k2']));
    expect(texts(dir, { keys: { k2 } })).toEqual(expected(80));
    expect(() => texts(dir, { keys: { k1 } })).toThrow(KeyError);
    // the log opens and appends under the new key
    await append(dir, { keys: { k2 }, keyId: 'k2' }, 80, 10);
    expect(texts(dir, { keys: { k2 } })).toEqual(expected(90));
    // a second rekey to the same key changes nothing
    expect((await rekeyLog({ dir, keys: { k2 }, keyId: 'k2' })).rewritten).toEqual([]);
  });

  it('refuses while the log is open (its lock)', async () => {
    const dir = await k1Log();
    const log = await openLog({ dir, encryption: { keys: { k1 }, keyId: 'k1' } });
    try {
      await expect(rekeyLog({ dir, keys: { k1, k2 }, keyId: 'k2' })).rejects.toBeInstanceOf(LogLockedError);
    } finally {
      await log.close();
    }
  });

  it('a failure after any step leaves every entry readable; a second run finishes the job', async () => {
    const src = await k1Log();
    const segs = segmentFiles(src).length;
    for (let k = 1; k <= segs * 5; k++) {
      const dir = path.join(tmpDir(), 'log');
      copyDir(src, dir);
      await expect(rekeyLog({ dir, keys: { k1, k2 }, keyId: 'k2', testFailAfterSteps: k })).rejects.toThrow(/rekey test fault/);
      expect(texts(dir, { keys: { k1, k2 } }), `after step ${k}`).toEqual(expected(80));
      // the log still opens (a leftover temporary file is no segment) and the rekey completes
      const log = await openLog({ dir, encryption: { keys: { k1, k2 }, keyId: 'k2' } });
      await log.close();
      await rekeyLog({ dir, keys: { k1, k2 }, keyId: 'k2' });
      expect(texts(dir, { keys: { k2 } })).toEqual(expected(80));
      expect(fs.readdirSync(path.join(dir, '000')).filter((n) => n.includes('rekey'))).toEqual([]);
    }
  });

  it('a log that had no encryption: plain segments are left (counted in plain) unless encryptPlain, which encrypts them all; crash-safe too', async () => {
    const plainLog = async (): Promise<string> => {
      const dir = logDir();
      await append(dir, undefined as unknown as EncryptionOptions, 0, 50); // before encryption
      await append(dir, { keys: { k1 }, keyId: 'k1' }, 50, 30); // encryption turned on
      return dir;
    };
    const holdsPlaintext = (dir: string) => segmentFiles(dir).filter((f) => fs.readFileSync(f).includes('entry 1 y'));
    const dir = await plainLog();
    const segs = segmentFiles(dir).length;
    const plainSegs = holdsPlaintext(dir).length;
    expect(plainSegs).toBeGreaterThan(0);
    const left = await rekeyLog({ dir, keys: { k1 }, keyId: 'k1' });
    expect(left).toMatchObject({ rewritten: [], plain: expect.any(Number) as number, unchanged: segs });
    expect(left.plain).toBeGreaterThanOrEqual(plainSegs);
    expect(holdsPlaintext(dir).length).toBe(plainSegs);
    const all = await rekeyLog({ dir, keys: { k1 }, keyId: 'k1', encryptPlain: true });
    expect(all.rewritten.length).toBe(left.plain);
    expect(all.plain).toBe(0);
    expect(holdsPlaintext(dir)).toEqual([]);
    expect(segmentFiles(dir).every((f) => fs.readFileSync(f).subarray(0, 4096).toString('latin1').includes('entry') === false)).toBe(true);
    expect(new Set(keyIds(dir))).toEqual(new Set(['k1']));
    expect(texts(dir, { keys: { k1 } })).toEqual(expected(80));
    expect(() => [...readLogSync({ dir })]).toThrow(KeyError); // nothing readable without the key now
    await append(dir, { keys: { k1 }, keyId: 'k1' }, 80, 5); // and the log goes on
    expect(texts(dir, { keys: { k1 } })).toEqual(expected(85));
    // a failure after any step leaves every entry readable
    const src = await plainLog();
    const steps = (await rekeyLog({ dir: src, keys: { k1 }, keyId: 'k1' })).plain * 5; // five steps per segment rewritten
    for (let k = 1; k <= steps; k += 2) {
      const d = path.join(tmpDir(), 'log');
      copyDir(src, d);
      await expect(rekeyLog({ dir: d, keys: { k1 }, keyId: 'k1', encryptPlain: true, testFailAfterSteps: k })).rejects.toThrow(/rekey test fault/);
      expect(texts(d, { keys: { k1 } }), `after step ${k}`).toEqual(expected(80));
      await rekeyLog({ dir: d, keys: { k1 }, keyId: 'k1', encryptPlain: true });
      expect(holdsPlaintext(d)).toEqual([]);
      expect(texts(d, { keys: { k1 } })).toEqual(expected(80));
    }
    await expect(rekeyLog({ dir, keys: { k1 }, keyId: 'k1', encryptPlain: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' });
    // the CLI says how many hold plaintext, and --encrypt-plain encrypts them
    const cli = await plainLog();
    const kf = path.join(tmpDir(), 'keys.json');
    fs.writeFileSync(kf, JSON.stringify({ keys: { k1: Buffer.from(k1).toString('hex') }, keyId: 'k1' }));
    const first = await runCli(['rekey', cli, '--key-file', kf]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^\d+ segments are not encrypted \(they hold plaintext\): --encrypt-plain encrypts them$/m);
    const second = await runCli(['rekey', cli, '--key-file', kf, '--encrypt-plain', '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ plain: 0, skipped: [] });
    expect(holdsPlaintext(cli)).toEqual([]);
    expect(texts(cli, { keys: { k1 } })).toEqual(expected(80));
  });

  it('shardlog rekey DIR --key-file F --key-id ID', async () => {
    const dir = await k1Log();
    const kf = path.join(tmpDir(), 'keys.json');
    fs.writeFileSync(kf, JSON.stringify({ keys: { k1: Buffer.from(k1).toString('hex'), k2: Buffer.from(k2).toString('base64') }, keyId: 'k1' }));
    const r = await runCli(['rekey', dir, '--key-file', kf, '--key-id', 'k2', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { rewritten: string[] }).rewritten.length).toBeGreaterThan(1);
    expect(texts(dir, { keys: { k2 } })).toEqual(expected(80));
  });
});
