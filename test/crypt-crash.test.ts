/**
 * Crash safety with encryption on: a child appends to an encrypted log with sync 'batch' and reports
 * each seq once durable() resolves; it is SIGKILLed at a random moment. After reopening (with the
 * key), every reported seq reads back with its exact bytes, and nothing on disk holds the plaintext.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openLog, readLogSync } from '@shardlog/core';
import { fixture, logDir, payload, killAfterLines } from './helpers.js';

const WRITER = fixture('crash-writer.mjs');
const ROUNDS = 5;
const ID_BASE = 1_000_000;

describe('crash: SIGKILL while appending to an encrypted log', () => {
  it(`keeps every entry reported durable, over ${ROUNDS} rounds`, async () => {
    const dir = logDir();
    const key = randomBytes(32);
    const encryption = { keys: { k1: Uint8Array.from(key) }, keyId: 'k1' };
    const reported = new Map<number, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const target = [1, 40, 150, 7, 300][round];
      const { lines: all, signal } = await killAfterLines(WRITER, [dir, String(round), String(round * ID_BASE)], target, { CRASH_KEY_HEX: key.toString('hex') });
      expect(signal).toBe('SIGKILL');
      for (const l of all) {
        if (l.startsWith('ready')) continue;
        const [seq, id] = l.split(' ').map(Number);
        reported.set(seq, id);
      }
      const log = await openLog({ dir, encryption: { keys: { k1: Uint8Array.from(key) }, keyId: 'k1' } });
      await log.close();
      const bySeq = new Map([...readLogSync({ dir, encryption })].map((e) => [e.seq, e.text()]));
      for (const [seq, id] of reported) {
        expect(bySeq.get(seq), `durable seq ${seq} (entry ${id}) lost in round ${round}`).toBe(payload(id, Math.floor(id / ID_BASE)));
      }
    }
    expect(reported.size).toBeGreaterThan(ROUNDS);
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (e.isFile()) expect(fs.readFileSync(path.join(e.parentPath, e.name)).includes('abcdefghijklmnopqrstuvwxyz0123456789')).toBe(false);
    }
  });
});
