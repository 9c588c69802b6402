/**
 * The stress verifier must fail when the log is wrong: entries lost, duplicated, reordered, corrupted
 * (with a valid record CRC, so only the byte-for-byte check can see it) or never appended. Each case
 * writes a real log through the engine, damaged the way the case says, and checks the verdict.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openLog } from '@shardlog/core';
import { crc32cUpdate } from '@shardlog/workers';
import { Payloads } from '@shardlog/cli/internal/stress/payload';
import { verifyLog, type ProducerExpectation } from '@shardlog/cli/internal/stress/verify';
import { logDir, segmentFiles } from './helpers.js';

// Builds version-1 segments (records with their own CRC, which readers and recovery still handle) and
// cuts them record by record.
process.env.SHARDLOG_TEST_SEGMENT_VERSION = '1';

const SEED = 1234;

for (const kind of ['binary', 'string'] as const) {
  describe(`stress verifier (${kind} entries)`, () => {
    const gen = new Payloads({ seed: SEED, kind, size: { kind: 'uniform', min: 24, max: 300 } });
    const entry = (p: number, i: number) => (kind === 'binary' ? Uint8Array.prototype.slice.call(gen.binary(p, i)) : gen.string(p, i));
    const bytes = (e: string | Uint8Array) => (typeof e === 'string' ? Buffer.from(e, 'utf8') : e);

    /** Append the (producer, index) pairs in this order to a 2-shard log; returns dir and each producer's honest digest. */
    async function write(order: [number, number][], tamper?: (e: string | Uint8Array, k: number) => string | Uint8Array) {
      const dir = logDir();
      const log = await openLog({ dir, shards: 2 });
      const digest = new Map<number, { count: number; hash: number; lastSeq: number }>();
      for (const [k, [p, i]] of order.entries()) {
        const honest = entry(p, i);
        const seq = log.append(tamper ? tamper(honest, k) : honest);
        const d = digest.get(p) ?? { count: 0, hash: 0, lastSeq: 0 };
        if (i === d.count) {
          const b = bytes(honest);
          digest.set(p, { count: i + 1, hash: crc32cUpdate(d.hash, b, 0, b.length), lastSeq: seq });
        }
      }
      await log.close();
      return { dir, digest };
    }
    const seqOf = (n: number, p = 0): [number, number][] => Array.from({ length: n }, (_, i) => [p, i]);
    const expectAll = (digest: Map<number, { count: number; hash: number; lastSeq: number }>, extra: Partial<ProducerExpectation> = {}) =>
      new Map([...digest].map(([p, ack]) => [p, { ack, appendedMax: ack.count, mustHave: ack.count, ...extra }]));

    it('passes an intact log of interleaved producers', async () => {
      const order: [number, number][] = [];
      for (let i = 0; i < 200; i++) order.push([0, i], [1, i], [2, i]);
      const { dir, digest } = await write(order);
      const v = verifyLog(dir, gen, expectAll(digest));
      expect(v.problems).toEqual([]);
      expect(v).toMatchObject({ ok: true, entriesRead: 600, acknowledged: 600, acknowledgedPresent: 600, lost: 0 });
    });

    it('reports acknowledged entries cut from the disk as lost', async () => {
      const { dir, digest } = await write(seqOf(100));
      // drop the last record of shard 1's segment (entry 99: round robin puts odd entries there)
      const seg = segmentFiles(dir, 1)[0];
      const size = fs.statSync(seg).size;
      const recLen = (kind === 'binary' ? gen.binary(0, 99).length : Buffer.byteLength(gen.string(0, 99))) + 16;
      fs.truncateSync(seg, size - ((recLen + 7) & ~7));
      const v = verifyLog(dir, gen, expectAll(digest));
      expect(v.ok).toBe(false);
      expect(v.lost).toBe(1);
      expect(v.problems.join('\n')).toMatch(/producer 0: 1 of its 100 .* entries are missing \(the first is entry 99\)/);
    });

    it('reports a duplicated entry', async () => {
      const order = seqOf(50);
      order.splice(20, 0, [0, 10]);
      const { dir, digest } = await write(order);
      const v = verifyLog(dir, gen, expectAll(digest));
      expect(v).toMatchObject({ ok: false, duplicates: 1, lost: 0 });
    });

    it('reports entries out of their producer order', async () => {
      const order = seqOf(50);
      [order[30], order[31]] = [order[31], order[30]];
      const { dir } = await write(order);
      const ack = { count: 50, hash: 0, lastSeq: 0 };
      const v = verifyLog(dir, gen, new Map([[0, { ack, appendedMax: 50, mustHave: 50 }]]));
      expect(v.ok).toBe(false);
      expect(v.outOfOrder).toBe(1);
    });

    it('reports a payload changed by one byte (record CRC still valid)', async () => {
      const { dir, digest } = await write(seqOf(40), (e, k) => {
        if (k !== 17) return e;
        if (typeof e === 'string') return e.slice(0, 30) + (e[30] === 'x' ? 'y' : 'x') + e.slice(31);
        const b = Uint8Array.prototype.slice.call(e);
        b[b.length - 1] ^= 0x40;
        return b;
      });
      const v = verifyLog(dir, gen, expectAll(digest));
      expect(v.ok).toBe(false);
      expect(v.corrupt).toBe(1);
      expect(v.problems[0]).toMatch(/payload differs from what producer 0 appended as its entry 17/);
    });

    it('reports an entry that no producer appended', async () => {
      const { dir, digest } = await write([...seqOf(10), [0, 500], [7, 0]]);
      const v = verifyLog(dir, gen, expectAll(new Map([[0, digest.get(0)!]])));
      expect(v).toMatchObject({ ok: false, phantom: 2 });
    });

    it('tolerates unacknowledged entries missing past the ack point, but not before it', async () => {
      const { dir, digest } = await write(seqOf(30));
      const ack = digest.get(0)!;
      // the producer appended 40 but had only 30 acknowledged: 30 present is fine
      expect(verifyLog(dir, gen, new Map([[0, { ack, appendedMax: 40 }]])).ok).toBe(true);
      // a wrong running hash or last seq for the acknowledged prefix is caught
      expect(verifyLog(dir, gen, new Map([[0, { ack: { ...ack, hash: ack.hash ^ 1 }, appendedMax: 40 }]]))).toMatchObject({ ok: false, hashMismatches: 1 });
      expect(verifyLog(dir, gen, new Map([[0, { ack: { ...ack, lastSeq: ack.lastSeq + 1 }, appendedMax: 40 }]]))).toMatchObject({ ok: false, seqErrors: 1 });
      // claiming 31 acknowledged when 30 are there is a loss
      expect(verifyLog(dir, gen, new Map([[0, { ack: { ...ack, count: 31 }, appendedMax: 40 }]]))).toMatchObject({ ok: false, lost: 1 });
    });
  });
}
