/**
 * log.follow(): entries as they become durable, in global seq order, across shards and segment
 * rolls, from any seq; it ends when the log closes and throws when the log fails.
 */
import { describe, expect, it } from 'vitest';
import { attachProducer, openLog, ShardFailedError, type LogEntry } from '@shardlog/core';
import { logDir } from './helpers.js';

async function collect(it: AsyncIterable<LogEntry>, out: { seq: number; text: string }[]): Promise<void> {
  for await (const e of it) out.push({ seq: e.seq, text: e.text() });
}

describe('follow', () => {
  it('yields new durable entries in seq order across shards and segment rolls, then ends on close', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 3, segmentBytes: 4096 });
    const got: { seq: number; text: string }[] = [];
    const done = collect(log.follow(), got);
    const want: { seq: number; text: string }[] = [];
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 40; i++) {
        const text = `${round}/${i} ` + 'f'.repeat((round * 40 + i) % 120);
        // round robin and keyed placement: shards get uneven runs
        want.push({ seq: i % 5 === 0 ? log.appendTo(0, text) : log.append(text), text });
      }
      if (round % 3 === 0) await log.durable();
    }
    await log.close();
    await done;
    expect(got).toEqual(want);
  });

  it('an entry is yielded only once it is durable', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, sync: 'none' }); // nothing is synced until durable()
    const seen: number[] = [];
    const done = (async () => {
      for await (const e of log.follow()) seen.push(e.seq);
    })();
    let last = 0;
    for (let i = 0; i < 100; i++) last = log.append(`entry ${i}`);
    // written to the files, not synced: the follower must not yield them, whatever wakes it
    while (log.stats().entries < 100) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 600)); // (asserting an absence: let the follower's watchers run twice)
    expect(seen).toEqual([]);
    await log.durable(last);
    while (seen.length < 100) await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await log.close();
    await done;
  });

  it('from an old seq: the entries already on disk first, then new ones; with producers in shared mode', async () => {
    const dir = logDir();
    const first = await openLog({ dir, shards: 2, segmentBytes: 4096 });
    for (let i = 0; i < 300; i++) first.append(`old ${i}`);
    await first.close();
    const log = await openLog({ dir });
    const other = attachProducer(log.producerHandle()); // the log now takes the reservation lock
    const got: { seq: number; text: string }[] = [];
    const done = collect(log.follow({ fromSeq: 123 }), got);
    for (let i = 0; i < 200; i++) (i % 2 ? other : log).append(`new ${i}`);
    await other.durable();
    await log.durable();
    await log.close();
    await done;
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 500 - 122 }, (_, i) => 123 + i));
    expect(got[0].text).toBe('old 122');
    expect(got.at(-1)!.text).toBe('new 199');
  });

  it('ends at close even when nothing was appended, and keeps up while retention removes segments', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, segmentBytes: 4096 });
    const none: { seq: number; text: string }[] = [];
    const idle = collect(log.follow(), none);
    const got: { seq: number; text: string }[] = [];
    const all = collect(log.follow({ fromSeq: 1 }), got);
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 50; i++) log.append(`${round}.${i} ` + 'y'.repeat(60));
      await log.durable();
      await log.truncateBefore(Math.max(0, log.nextSeq - 60));
    }
    await log.close();
    await idle;
    await all;
    // every entry that was still on disk when the follower reached it, in order, none twice
    for (let k = 1; k < got.length; k++) expect(got[k].seq).toBeGreaterThan(got[k - 1].seq);
    expect(got.at(-1)!.seq).toBe(500);
    expect(none.length).toBe(500);
  });

  it('throws the failure when the log fails', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, testFaults: { syncFailAt: 3 } });
    const got: number[] = [];
    const done = (async () => {
      for await (const e of log.follow()) got.push(e.seq);
    })();
    for (let i = 0; i < 10; i++) {
      log.append(`e${i}`);
      await log.durable().catch(() => undefined);
      if (log.failure) break;
    }
    await expect(done).rejects.toBeInstanceOf(ShardFailedError);
    await log.close().catch(() => undefined);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 1)); // durable ones, in order
  });

  it('is for framed logs', async () => {
    const log = await openLog({ dir: logDir(), format: 'lines', shards: 1 });
    expect(() => log.follow()).toThrow(/framed/);
    await log.close();
  });
});
