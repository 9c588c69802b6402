/**
 * Only durable entries leave the machine, for a log directory written by someone else too: the
 * directory shipper fdatasyncs a segment itself before the records it read from it are shipped.
 * The log here is written with sync: 'none' (its writer never syncs these few bytes), and the
 * shipper's fdatasync calls are watched through node:fs (the writer threads have their own).
 */
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLog } from '@shardlog/core';
import { shipLog } from '@shardlog/ship';
import { logDir } from './helpers.js';
import { startNats, streamEntries, until } from './ship-support.js';

// the node:fs module object itself: patched, then pushed to every ESM `import * as fs` by syncBuiltinESMExports
const fsModule = createRequire(import.meta.url)('node:fs') as typeof fs;
const original = fsModule.fdatasyncSync;
afterEach(() => {
  fsModule.fdatasyncSync = original;
  syncBuiltinESMExports();
});

describe('directory shipping syncs before it ships', () => {
  it('fdatasyncs the segment the records came from before the stream acknowledges any of them', async () => {
    const nats = await startNats();
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, sync: 'none' });
    for (let i = 0; i < 50; i++) log.append(`not yet synced ${i}`);
    const seg = path.join(dir, '000', '00000000000000000001.wal');
    await until(() => fs.existsSync(seg) && fs.statSync(seg).size > 40 + 50 * 24, 'the writer to write the records');
    expect(log.stats().fsyncs).toBe(0); // nobody synced them

    const events: string[] = [];
    fsModule.fdatasyncSync = (fd: number) => {
      events.push(`sync ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`);
      return original(fd);
    };
    syncBuiltinESMExports();
    const shipper = shipLog({ dir, servers: nats.url, stream: 'DUR', createStream: true, pollMs: 10, onShipped: (shard, seq) => events.push(`ack ${shard}:${seq}`) });
    await until(() => shipper.stats().shards[0]?.shippedSeq === 50, 'shipping');
    await shipper.stop();
    // everything was shipped: a stopped shipper says so (it used to count the whole segment as lag)
    expect(shipper.stats()).toMatchObject({ state: 'stopped', shippedEntries: 50, lagEntries: 0, lagBytes: 0 });
    expect(events[0]).toBe(`sync ${fs.realpathSync(seg)}`);
    expect(events.filter((e) => e.startsWith('ack')).at(-1)).toBe('ack 0:50');
    expect((await streamEntries(nats.url, 'DUR')).length).toBe(50);
    await log.close();
  });
});
