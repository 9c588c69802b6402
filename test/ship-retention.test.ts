/**
 * Retention that respects shipping: a shipper (here another process, the shardlog-ship command)
 * keeps a hold file in <dir>/holds/ with the highest acknowledged seq per shard, and
 * truncateBefore() never removes a segment holding an entry above it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog, readHolds, readLog } from '@shardlog/core';
import { shipLog } from '@shardlog/ship';
import { logDir, REPO_ROOT, segmentFiles } from './helpers.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { createStream, natsConnect, startNats, streamEntries, until } from './ship-support.js';

const BIN = path.join(REPO_ROOT, 'packages/ship/bin/shardlog-ship.js');

async function seqs(dir: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of readLog({ dir })) out.push(e.seq);
  return out;
}

/** Run the command until its hold says `seq` for shard 0, then SIGTERM it (a clean stop, exit 0). */
async function shipUntil(dir: string, url: string, seq: number): Promise<void> {
  const child = spawn(process.execPath, [BIN, dir, '--server', url, '--stream', 'RET', '--poll-ms', '10', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  try {
    await until(() => readHolds(dir).some((h) => h.shipped[0] === seq), `the hold to reach ${seq}: ${err}`);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = await once(child, 'exit');
  expect(code, err).toBe(0);
}

describe('retention holds', () => {
  it('truncateBefore never removes entries the stream has not acknowledged', async () => {
    const nats = await startNats();
    await createStream(nats.url, 'RET');
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, segmentBytes: 4096 });
    for (let i = 0; i < 300; i++) log.append(`first ${i} ${'.'.repeat(40)}`);
    await log.durable();
    const shipped = log.nextSeq - 1;
    await shipUntil(dir, nats.url, shipped);
    const [hold] = readHolds(dir);
    expect(hold).toMatchObject({ holder: 'ship-RET-shardlog', shipped: [shipped] });
    expect(hold.logId).toBe(JSON.parse(fs.readFileSync(path.join(dir, 'shardlog.json'), 'utf8')).id);

    // more entries, not shipped; rotate so they sit in segments retention could take
    for (let i = 0; i < 300; i++) log.append(`second ${i} ${'.'.repeat(40)}`);
    await log.rotate();
    log.append('last');
    await log.durable();
    const segsBefore = segmentFiles(dir).length;
    const r = await log.truncateBefore(log.nextSeq);
    expect(r.removed.length).toBeGreaterThan(0); // what was shipped may go...
    expect(segmentFiles(dir).length).toBeGreaterThan(1); // ...but not the rest
    expect(segmentFiles(dir).length).toBe(segsBefore - r.removed.length);
    expect(r.heldBy).toEqual([{ holder: 'ship-RET-shardlog', shard: 0, shipped }]);
    const left = await seqs(dir);
    for (let s = shipped + 1; s < log.nextSeq; s++) expect(left).toContain(s); // every unshipped entry is still there
    expect(left[0]).toBeLessThanOrEqual(shipped + 1);

    // ship the rest; now retention may take everything but the last segment
    await shipUntil(dir, nats.url, log.nextSeq - 1);
    const r2 = await log.truncateBefore(log.nextSeq);
    expect(r2.heldBy).toEqual([]);
    expect(segmentFiles(dir).length).toBe(1);
    const all = (await streamEntries(nats.url, 'RET')).map((e) => e.seq);
    expect(all).toEqual(Array.from({ length: log.nextSeq - 1 }, (_, i) => i + 1));

    // a hold that cannot be read stops retention rather than being ignored
    fs.writeFileSync(path.join(dir, 'holds', 'broken.json'), '{');
    await expect(log.truncateBefore(log.nextSeq)).rejects.toMatchObject({ code: 'ERR_SHARDLOG_FORMAT' });
    await log.close();
  });

  it('hold: false keeps no hold file', async () => {
    const nats = await startNats();
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, segmentBytes: 4096 });
    for (let i = 0; i < 200; i++) log.append(`entry ${i} ${'.'.repeat(40)}`);
    const s = shipLog({ log, servers: nats.url, stream: 'NOHOLD', createStream: true, hold: false });
    await s.ready;
    await until(() => s.stats().shards[0]?.shippedSeq === 200, 'shipping');
    await s.stop();
    expect(fs.existsSync(path.join(dir, 'holds'))).toBe(false);
    expect(readHolds(dir)).toEqual([]);
    await log.close();
  });

  it("a subject the stream emptied (purge, max_age) is not shipped again: the shipper's hold is a floor", async () => {
    const nats = await startNats();
    await createStream(nats.url, 'AGED');
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    for (let i = 0; i < 20; i++) log.append(`e${i}`);
    await log.durable();
    const first = shipLog({ dir, servers: nats.url, stream: 'AGED', pollMs: 10 });
    await until(() => first.stats().shards[0]?.shippedSeq === 20, 'shipping');
    await first.stop();
    const nc = await natsConnect(nats.url);
    await (await jetstreamManager(nc)).streams.purge('AGED');
    await nc.close();
    log.append('new');
    await log.durable();
    const again = shipLog({ dir, servers: nats.url, stream: 'AGED', pollMs: 10 });
    await until(() => again.stats().shards[0]?.shippedSeq === 21, 'shipping the new entry');
    await again.stop();
    expect((await streamEntries(nats.url, 'AGED')).map((e) => e.seq)).toEqual([21]);
    await log.close();
  });
});
