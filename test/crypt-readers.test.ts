/** Every reader takes the keys of an encrypted log: follow(), ShardCursor (the shipper's and tail's), the pino destination, and the CLI's --key-file / SHARDLOG_KEY_FILE. */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { KeyError, openLog, readKeysOf, readLogSync, shardlogDestination, ShardCursor, verifyLog, type LogEntry } from '@shardlog/core';
import { logDir, runCli, tmpDir } from './helpers.js';

const key = (): Uint8Array => Uint8Array.from(randomBytes(32));

async function encryptedLog(n: number): Promise<{ dir: string; k1: Uint8Array }> {
  const dir = logDir();
  const k1 = key();
  const log = await openLog({ dir, shards: 2, encryption: { keys: { k1 }, keyId: 'k1' } });
  for (let i = 0; i < n; i++) log.append(`entry ${i}`);
  await log.close();
  return { dir, k1 };
}

describe('readers of an encrypted log', () => {
  it('follow() yields durable entries of an encrypted log', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, encryption: { keys: { k1: key() }, keyId: 'k1' } });
    const it = log.follow({ fromSeq: 0 });
    for (let i = 0; i < 50; i++) log.append(`f${i}`);
    const got: string[] = [];
    for await (const e of it) {
      got.push(e.text());
      if (got.length === 50) break;
    }
    await log.close();
    expect(got).toEqual([...Array(50).keys()].map((i) => `f${i}`));
  });

  it('ShardCursor reads with the keys, and without them is a KeyError', async () => {
    const { dir, k1 } = await encryptedLog(40);
    const read = (keys?: ReturnType<typeof readKeysOf>): LogEntry[] => {
      const out: LogEntry[] = [];
      for (let s = 0; s < 2; s++) {
        const c = new ShardCursor(dir, s, 0, undefined, keys);
        try {
          for (let e = c.next(Number.MAX_SAFE_INTEGER, 0); e; e = c.next(Number.MAX_SAFE_INTEGER, 0)) out.push(e);
        } finally {
          c.close();
        }
      }
      return out;
    };
    expect(read(readKeysOf(dir, { keys: { k1 } })).length).toBe(40);
    expect(() => read()).toThrow(KeyError);
  });

  it('the pino destination passes encryption through (and so writes framed segments)', async () => {
    const dir = logDir();
    const k1 = key();
    const dest = shardlogDestination({ dir, shards: 1, encryption: { keys: { k1 }, keyId: 'k1' } });
    const logger = pino(dest);
    for (let i = 0; i < 100; i++) logger.info({ i }, 'secret-pino-line');
    await once(dest, 'ready');
    dest.end();
    await once(dest, 'close');
    const files = fs.readdirSync(path.join(dir, '000')).map((f) => fs.readFileSync(path.join(dir, '000', f)));
    expect(files.some((b) => b.includes('secret-pino-line'))).toBe(false);
    const lines = [...readLogSync({ dir, encryption: { keys: { k1 } } })].map((e) => JSON.parse(e.text()) as { msg: string });
    expect(lines).toHaveLength(100);
    expect(lines.every((l) => l.msg === 'secret-pino-line')).toBe(true);
  });

  it('the CLI reads with --key-file or SHARDLOG_KEY_FILE, and without a key fails with ERR_SHARDLOG_KEY', async () => {
    const { dir, k1 } = await encryptedLog(20);
    const kf = path.join(tmpDir(), 'keys.json');
    fs.writeFileSync(kf, JSON.stringify({ keys: { k1: Buffer.from(k1).toString('base64') }, keyId: 'k1' }));
    const a = await runCli(['cat', dir, '--key-file', kf]);
    expect(a.code).toBe(0);
    expect(a.stdout.trim().split('\n').sort()).toEqual([...Array(20).keys()].map((i) => `entry ${i}`).sort());
    const t = await runCli(['tail', dir, '-n', '3', '--key-file', kf]);
    expect(t.code).toBe(0);
    expect(t.stdout.trim().split('\n')).toHaveLength(3);
    const before = process.env.SHARDLOG_KEY_FILE;
    process.env.SHARDLOG_KEY_FILE = kf;
    try {
      const b = await runCli(['cat', dir]);
      expect(b.code).toBe(0);
      expect(b.stdout.trim().split('\n')).toHaveLength(20);
      const r = await runCli(['recover', dir, '--json']);
      expect(r.code).toBe(0);
    } finally {
      if (before === undefined) delete process.env.SHARDLOG_KEY_FILE;
      else process.env.SHARDLOG_KEY_FILE = before;
    }
    const st = await runCli(['stats', dir, '--json', '--key-file', kf]);
    expect(st.code).toBe(0);
    expect((JSON.parse(st.stdout) as { total: { lastSeq: number } }).total.lastSeq).toBe(20);
    const stNoKey = await runCli(['stats', dir]);
    expect(stNoKey.code).toBe(1);
    expect(stNoKey.stderr).toContain('ERR_SHARDLOG_KEY');
    const c = await runCli(['cat', dir]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('ERR_SHARDLOG_KEY');
    expect(c.stderr).toContain('"k1"');
  });
});

describe('verify of an encrypted log', () => {
  it('checks every tag with the keys; without them each encrypted segment is a key issue, not garbage', async () => {
    const { dir, k1 } = await encryptedLog(200);
    for (const threads of [0, 2]) {
      const ok = await verifyLog({ dir, threads, encryption: { keys: { k1 } } });
      expect(ok.errors).toEqual([]);
      expect(ok.records).toBe(200);
    }
    const nokey = await verifyLog({ dir, threads: 0 });
    expect(nokey.ok).toBe(false);
    expect(nokey.errors.length).toBeGreaterThan(0);
    expect(nokey.errors.every((e) => e.reason.includes('key "k1": the segment is encrypted and no keys were given'))).toBe(true);
    const cli = await runCli(['verify', dir]);
    expect(cli.code).toBe(1);
  });

  it("openLog({ verify: 'all' }) checks older encrypted segments with the log's keys", async () => {
    const dir = logDir();
    const k1 = key();
    const enc = { keys: { k1 }, keyId: 'k1' };
    for (let r = 0; r < 3; r++) {
      const log = await openLog({ dir, shards: 1, encryption: enc, verify: 'all' });
      for (let i = 0; i < 30; i++) log.append(`r${r} ${i}`);
      await log.close();
    }
    const log = await openLog({ dir, shards: 1, encryption: enc, verify: 'all' });
    expect(log.recovery[0]!.segmentsScanned).toBeGreaterThan(1);
    await log.close();
    const e = await openLog({ dir, shards: 1, encryption: { keys: { k1: key() }, keyId: 'k1' }, verify: 'all' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyError);
  });
});
