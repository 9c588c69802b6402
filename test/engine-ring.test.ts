/** Engine: ring wrap-around, padding, a full ring, and the 53-bit sequence counter. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EntryTooLargeError, openLog, readLogSync, RingFullError } from '@shardlog/core';
import { G_SEQ_HALVES, G_SEQ_LO, GLOBAL_BYTES } from '@shardlog/workers';
import { initSeq, peekSeq, takeSeq } from '@shardlog/core/internal/sequence';
import { logDir } from './helpers.js';

describe('sequence counter (Int32 words, 53 bits)', () => {
  it('counts across the 2^31 and 2^32 boundaries of its low word', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(2 ** 31, 2 ** 32, 3 * 2 ** 31, 2 ** 33, 2 ** 40 + 2 ** 32, 2 ** 52),
        fc.integer({ min: -50, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 30 }),
        (boundary, startOffset, takes) => {
          const g = new Int32Array(new SharedArrayBuffer(GLOBAL_BYTES));
          let expected = boundary + startOffset;
          initSeq(g, expected);
          for (const n of takes) {
            expect(peekSeq(g)).toBe(expected);
            expect(takeSeq(g, n)).toBe(expected);
            expected += n;
          }
          expect(peekSeq(g)).toBe(expected);
        },
      ),
    );
  });

  it('gives the right value to a producer whose copy of the half count is one behind', () => {
    const g = new Int32Array(new SharedArrayBuffer(GLOBAL_BYTES));
    initSeq(g, 2 ** 31 - 2);
    expect(takeSeq(g, 4)).toBe(2 ** 31 - 2); // this producer crossed 2^31 ...
    // ... and a second producer ran before it recorded the crossing: undo the record to simulate that
    Atomics.sub(g, G_SEQ_HALVES, 1);
    expect(takeSeq(g, 1)).toBe(2 ** 31 + 2);
    void G_SEQ_LO;
  });
});

describe('ring wrap-around and padding', () => {
  it('random entry sizes through a 64 KiB ring come back exactly (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1000, max: 32 * 1024 - 17 })), { minLength: 1, maxLength: 300 }),
        fc.boolean(),
        async (sizes, asText) => {
          const dir = logDir();
          const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, sync: 'none' });
          const want: Buffer[] = [];
          for (let i = 0; i < sizes.length; i++) {
            const b = Buffer.alloc(sizes[i], String.fromCharCode(97 + (i % 26)));
            if (b.length >= 4) b.writeUInt32LE(i, 0);
            want.push(b);
            if (asText) log.append(b.toString('latin1').replace(/[^\x20-\x7e]/g, '.'));
            else log.append(b);
          }
          await log.close();
          const got = [...readLogSync({ dir })];
          expect(got.length).toBe(sizes.length);
          for (let i = 0; i < sizes.length; i++) {
            const w = asText ? Buffer.from(want[i].toString('latin1').replace(/[^\x20-\x7e]/g, '.'), 'utf8') : want[i];
            expect(Buffer.from(got[i].data).equals(w)).toBe(true);
          }
          // the ring wrapped many times over: far more bytes than its size went through it
          return true;
        },
      ),
      { numRuns: 12 },
    );
  });

  it('32-bit ring positions wrap past 2^32: appends, padding, durable() and multi-producer claims keep working', async () => {
    for (const exclusive of [true, false]) {
      const dir = logDir();
      const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, sync: 'batch', testFaults: { ringStart: 2 ** 32 - 20_000 } });
      if (!exclusive) log.producerHandle(); // switch to the shared (locked) protocol
      const want: string[] = [];
      for (let i = 0; i < 3000; i++) {
        const e = `entry ${i} ` + 'p'.repeat(i % 700);
        want.push(e);
        const seq = log.append(e);
        if (i % 250 === 0) await log.durable(seq); // targets computed across the wrap
      }
      await log.durable();
      expect(log.stats().durableLagBytes).toBe(0);
      await log.close();
      expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(want);
    }
  });

  it('appendMany up to half the ring is one reservation with consecutive seqs; a larger batch is refused whole', async () => {
    for (const shared of [false, true]) {
      const dir = logDir();
      const log = await openLog({ dir, shards: 2, ringBytes: 64 * 1024 });
      if (shared) log.producerHandle();
      const first = log.append('first');
      // 3 entries of 10,000 bytes: 3 * align8(10,016) = 30,048 ring bytes, under the 32 KiB limit
      const batch = [Buffer.alloc(10_000, 1), 'é'.repeat(5000), Buffer.alloc(10_000, 3)];
      const last = log.appendMany(batch);
      expect(last).toBe(first + batch.length);
      // one more entry: past half the ring; refused, nothing appended, no seq taken
      const next = log.nextSeq;
      const big = [...batch, Buffer.alloc(3000, 4)];
      const err = (() => {
        try {
          log.appendMany(big);
        } catch (e) {
          return e as EntryTooLargeError;
        }
      })();
      expect(err).toBeInstanceOf(EntryTooLargeError);
      expect(err?.code).toBe('ERR_SHARDLOG_ENTRY_TOO_LARGE');
      expect(err?.limit).toBe(32 * 1024);
      expect(err?.entries).toBe(4);
      expect(err?.message).toMatch(/appendMany batch of 4 entries takes 33064 ring bytes/);
      expect(log.nextSeq).toBe(next);
      await log.close();
      const got = [...readLogSync({ dir })];
      expect(got.map((e) => e.seq)).toEqual(Array.from({ length: batch.length + 1 }, (_, i) => first + i));
      for (let i = 0; i < batch.length; i++) {
        const w = batch[i];
        expect(Buffer.from(got[i + 1].data).equals(Buffer.from(w))).toBe(true);
      }
      expect(new Set(got.slice(1).map((e) => e.shard)).size).toBe(1); // one shard for the whole batch
    }
  });

  it('an entry of exactly the largest size fits, one byte more is refused, and the log stays usable', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024 });
    const max = log.maxEntryBytes;
    expect(max).toBe(32 * 1024 - 16);
    log.append('small');
    log.append(new Uint8Array(max).fill(7));
    expect(() => log.append(new Uint8Array(max + 1))).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_ENTRY_TOO_LARGE' }));
    expect(() => log.append('é'.repeat(max))).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_ENTRY_TOO_LARGE' }));
    log.append(new Uint8Array(max).fill(8));
    log.append('after');
    await log.close();
    const got = [...readLogSync({ dir })];
    expect(got.map((e) => e.data.length)).toEqual([5, max, max, 5]);
    expect(got[1].data.every((b) => b === 7)).toBe(true);
    expect(got[2].data.every((b) => b === 8)).toBe(true);
  });

  it("a full ring throws RingFullError with onFull: 'throw', and the entries before it are all kept", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, sync: 'batch', onFull: 'throw' });
    const entry = new Uint8Array(4000).fill(1);
    let appended = 0;
    let err: unknown;
    try {
      for (let i = 0; i < 100_000; i++) {
        log.append(entry);
        appended++;
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RingFullError);
    expect((err as RingFullError).code).toBe('ERR_SHARDLOG_RING_FULL');
    expect(log.stats().ringFullWaits).toBeGreaterThan(0);
    await log.durable();
    log.append('still usable');
    await log.close();
    const got = [...readLogSync({ dir })];
    expect(got.length).toBe(appended + 1);
    expect(got.at(-1)!.text()).toBe('still usable');
  });

  it("a full ring blocks with onFull: 'wait' and resumes as the writer frees space (no entry dropped)", async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, ringBytes: 64 * 1024, sync: 'batch' });
    const n = 3000;
    for (let i = 0; i < n; i++) log.append(Buffer.alloc(2000, i % 251));
    expect(log.stats().ringFullWaits).toBeGreaterThan(0);
    await log.close();
    const got = [...readLogSync({ dir })];
    expect(got.length).toBe(n);
    expect(got.every((e, i) => e.data.length === 2000 && e.data[0] === i % 251)).toBe(true);
  });
});
