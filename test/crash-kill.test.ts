/**
 * Crash safety with a real process: a child appends with sync 'batch' and prints each seq the moment
 * durable() resolves; it is SIGKILLed at a random moment. After reopening, every seq it reported is
 * there with its exact bytes, nothing is duplicated, nothing is corrupt, and the stale lock of the
 * killed process did not block the restart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog, verifyLog } from '@shardlog/core';
import { fixture, logDir, payload, readAll, killAfterLines } from './helpers.js';

const WRITER = fixture('crash-writer.mjs');
const ROUNDS = 8;
const ID_BASE = 1_000_000;

describe('crash: SIGKILL while appending with sync batch', () => {
  it(`keeps every entry reported durable, over ${ROUNDS} rounds`, async () => {
    const dir = logDir();
    const reported = new Map<number, number>(); // seq -> id, over all rounds
    for (let round = 0; round < ROUNDS; round++) {
      // kill after a different amount of durable output each round (some rounds very early)
      const target = [1, 7, 40, 150, 3, 300, 20, 90][round % 8];
      const { lines: all, signal } = await killAfterLines(WRITER, [dir, String(round), String(round * ID_BASE)], target);
      expect(signal).toBe('SIGKILL');
      for (const l of all) {
        if (l.startsWith('ready')) continue;
        const [seq, id] = l.split(' ').map(Number);
        expect(reported.has(seq), `seq ${seq} reported twice`).toBe(false);
        reported.set(seq, id);
      }
      // the killed child's lock is still there, and must not block the restart
      expect(fs.existsSync(path.join(dir, 'shardlog.lock'))).toBe(true);
      const log = await openLog({ dir });
      // new seqs start above every recovered one, and at or above every last segment's name
      const next = log.recovery.reduce((a, r) => Math.max(a, r.lastSeq + 1, r.tail?.firstSeq ?? 0), 1);
      expect(log.nextSeq).toBe(next);
      await log.close();

      const entries = readAll(dir);
      const bySeq = new Map(entries.map((e) => [e.seq, e.text]));
      const ids = new Set<number>();
      for (let k = 1; k < entries.length; k++) expect(entries[k].seq).toBeGreaterThan(entries[k - 1].seq);
      for (const e of entries) {
        const id = Number(/^e(\d+):/.exec(e.text)![1]);
        expect(ids.has(id), `entry ${id} appears twice`).toBe(false);
        ids.add(id);
        expect(e.text).toBe(payload(id, Math.floor(id / ID_BASE)));
      }
      for (const [seq, id] of reported) {
        expect(bySeq.get(seq), `durable seq ${seq} (entry ${id}) lost in round ${round}`).toBe(payload(id, Math.floor(id / ID_BASE)));
      }
      const v = await verifyLog({ dir, threads: 0 });
      expect(v.errors).toEqual([]);
      expect(v.torn).toEqual([]); // recovery cut every torn tail
      expect(v.records).toBe(entries.length);
    }
    expect(reported.size).toBeGreaterThan(ROUNDS);
  });
});
