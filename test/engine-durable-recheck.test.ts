/**
 * Engine: durable(seq) must look at every shard, and a shard it waits on can become idle without
 * publishing anything (a producer that held its reservation lock lets go with nothing appended):
 * no writer wakes the waiter then. The durable() pump rings its own word every RECHECK_MS (50 ms)
 * while it waits, so such a waiter still settles, promptly; without that look it would wait forever.
 */
import { describe, expect, it } from 'vitest';
import { openLog } from '@shardlog/core';
import { I_LOCK } from '@shardlog/workers';
import { logDir } from './helpers.js';

describe('durable() on a shard that goes idle without a sync', () => {
  it('settles once a held reservation lock is let go without a publication', async () => {
    const log = await openLog({ dir: logDir(), shards: 2, sync: 'batch' });
    const handle = log.producerHandle(); // shared mode: the lock is what producers take
    const seq = log.appendTo(0, 'on shard 0');
    await log.durable(seq);
    // another producer holds shard 1's lock (mid-claim, as far as durable() can tell)
    const lock1 = new Int32Array(handle.rings[1]);
    expect(Atomics.compareExchange(lock1, I_LOCK, 0, 1)).toBe(0);
    const seq2 = log.appendTo(0, 'on shard 0 again');
    let settled = false;
    const p = log.durable(seq2).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(settled).toBe(false); // shard 1 may still hand out a seq below seq2: not durable yet
    // the holder lets go with nothing appended: a plain store, no notify (nothing was published)
    Atomics.store(lock1, I_LOCK, 0);
    const t0 = Date.now();
    await Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('durable() never looked again')), 3000))]);
    expect(Date.now() - t0).toBeLessThan(2000);
    await log.close();
  });
});
