/**
 * A process writing a dozen logs through a log manager is SIGKILLed at random moments: on the next
 * open each log recovers on its own, with every entry the killed process saw durable, exactly once.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLogManager, verifyLog } from '@shardlog/core';
import { fixture, readAll, tmpDir, killAfterLines } from './helpers.js';

const WRITER = fixture('manager-crash-writer.mjs');
const ROUNDS = 4;

describe('log manager: SIGKILL while appending to many logs', () => {
  it(`recovers every log with nothing acknowledged lost, over ${ROUNDS} rounds`, { timeout: 60_000 }, async () => {
    const root = tmpDir();
    const reported = new Map<string, Map<number, number>>(); // log -> seq -> id
    for (let round = 0; round < ROUNDS; round++) {
      const target = [5, 200, 60, 700][round];
      const { lines: all, signal } = await killAfterLines(WRITER, [root, String(round * 1_000_000)], target);
      expect(signal).toBe('SIGKILL');
      for (const l of all) {
        if (l === 'ready') continue;
        const [name, seq, id] = l.split(' ');
        const bySeq = reported.get(name) ?? new Map<number, number>();
        reported.set(name, bySeq);
        expect(bySeq.has(Number(seq)), `${name} seq ${seq} reported twice`).toBe(false);
        bySeq.set(Number(seq), Number(id));
      }
      // every log opens again (the killed process's locks are stale), each with its own recovery
      const m = await openLogManager({ root, writers: 1 });
      for (const name of m.list()) {
        const log = await m.log(name);
        expect(log.nextSeq).toBeGreaterThan(Math.max(0, ...(reported.get(name)?.keys() ?? [])));
      }
      await m.close();
    }
    expect(reported.size).toBeGreaterThan(1);
    for (const [name, bySeq] of reported) {
      const dir = path.join(root, name);
      const texts = new Map(readAll(dir).map((e) => [e.seq, e.text]));
      for (const [seq, id] of bySeq) expect(texts.get(seq), `${name} seq ${seq}`).toBe(`${name}:${id}:` + 'x'.repeat(id % 50));
      const ids = [...texts.values()].map((t) => t.split(':')[1]);
      expect(new Set(ids).size).toBe(ids.length);
      const v = await verifyLog({ dir });
      expect(v.ok, JSON.stringify(v.errors)).toBe(true);
    }
  });
});
