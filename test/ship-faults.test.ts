/**
 * Shipping through faults, against a real nats-server: the server SIGKILLed and restarted, and
 * paused (SIGSTOP/SIGCONT), mid-run; two shippers on one log at once; the shipper process SIGKILLed
 * at random moments and restarted. Each time the stream ends up holding every entry exactly once.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog, readLog, type Log } from '@shardlog/core';
import { shipLog, type Shipper } from '@shardlog/ship';
import { logDir, REPO_ROOT } from './helpers.js';
import { createStream, startNats, streamEntries, until } from './ship-support.js';

const BIN = path.join(REPO_ROOT, 'packages/ship/bin/shardlog-ship.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function logRecords(dir: string) {
  const out: { seq: number; shard: number; isText: boolean; hex: string }[] = [];
  for await (const e of readLog({ dir })) out.push({ seq: e.seq, shard: e.shard, isText: e.isText, hex: Buffer.from(e.data).toString('hex') });
  return out;
}

/** Append `perTick` entries every few ms until stop() is called; resolves the count. */
function appender(log: Log, perTick = 20) {
  let stopped = false;
  let n = 0;
  const done = (async () => {
    while (!stopped) {
      for (let i = 0; i < perTick; i++) log.append(`entry ${n++} ${'x'.repeat(n % 90)}`);
      await sleep(4);
    }
    return n;
  })();
  return {
    stop: async () => {
      stopped = true;
      return done;
    },
  };
}

/** Per shard, the highest seq in the log. */
function lastSeqs(recs: { seq: number; shard: number }[], shards: number): number[] {
  const out = new Array(shards).fill(0);
  for (const r of recs) out[r.shard] = Math.max(out[r.shard], r.seq);
  return out;
}

async function caughtUp(shipper: Shipper, want: number[]): Promise<void> {
  await until(() => shipper.stats().shards.length === want.length && shipper.stats().shards.every((s, i) => s.shippedSeq === want[i]), `the shipper to reach ${want.join(',')}: ${JSON.stringify(shipper.stats().shards.map((s) => s.shippedSeq))}`);
}

describe('shipping through faults', () => {
  it('rides out a server SIGKILL + restart and a 2 s SIGSTOP with bounded memory, then catches up', async () => {
    const nats = await startNats();
    await createStream(nats.url, 'FAULTS');
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, sync: 'batch' });
    const maxBufferedBytes = 16 * 1024;
    const shipper = shipLog({ log, servers: nats.url, stream: 'FAULTS', timeoutMs: 300, maxBufferedBytes, maxBatchBytes: 2048 });
    await shipper.ready;
    const app = appender(log);
    await sleep(300);

    await nats.kill();
    // a publish times out, and is retried: stats say so
    await until(() => shipper.stats().state === 'waiting' && /the NATS server to acknowledge seqs .* retry/.test(shipper.stats().waitingFor ?? ''), 'the shipper to wait for the server');
    await sleep(500);
    await nats.start();
    const before = shipper.stats().shippedEntries;
    await until(() => shipper.stats().shippedEntries > before + 100, 'shipping to resume after the restart');

    nats.pause();
    let maxSeen = 0;
    let sawWaiting = false;
    for (let t = 0; t < 20; t++) {
      await sleep(100);
      const s = shipper.stats();
      maxSeen = Math.max(maxSeen, s.bufferedBytes);
      if (s.state === 'waiting' && s.waitingFor) sawWaiting = true;
    }
    const paused = shipper.stats();
    nats.resume();
    expect(sawWaiting).toBe(true);
    expect(maxSeen).toBeGreaterThan(maxBufferedBytes / 2); // it did fill up...
    expect(maxSeen).toBeLessThanOrEqual(maxBufferedBytes + 200); // ...and no further (entries are < 200 bytes)
    expect(paused.lagEntries).toBeGreaterThan(paused.bufferedEntries); // the log ran on; the rest waits on disk

    await sleep(300);
    const appended = await app.stop();
    await log.close();
    await shipper.done;
    const want = await logRecords(dir);
    expect(want.length).toBe(appended);
    expect(await streamEntries(nats.url, 'FAULTS')).toEqual(want);
    expect(shipper.stats().shards.reduce((a, s) => a + s.retries, 0)).toBeGreaterThan(0);
  });

  it('two shippers on one log at once: each entry once in the stream', async () => {
    const nats = await startNats();
    await createStream(nats.url, 'TWO');
    const dir = logDir();
    const log = await openLog({ dir, shards: 3 });
    const a = shipLog({ log, servers: nats.url, stream: 'TWO', maxBatchEntries: 7, holdName: 'a' });
    const b = shipLog({ dir, servers: nats.url, stream: 'TWO', maxBatchEntries: 5, pollMs: 5, holdName: 'b' });
    await Promise.all([a.ready, b.ready]);
    const app = appender(log, 10);
    // append until both have shipped something and lost a race (at least 1.5 s; on a loaded machine longer)
    const both = () => a.stats().messages > 0 && b.stats().messages > 0 && [...a.stats().shards, ...b.stats().shards].some((s) => s.conflicts > 0);
    const t0 = Date.now();
    while ((Date.now() - t0 < 1500 || !both()) && Date.now() - t0 < 30_000) await sleep(100);
    const appended = await app.stop();
    await log.close();
    await a.done;
    const want = await logRecords(dir);
    expect(want.length).toBe(appended);
    await caughtUp(b, lastSeqs(want, 3));
    await b.stop();
    expect(await streamEntries(nats.url, 'TWO')).toEqual(want);
    // both really shipped: each got some messages in, and lost some races
    expect(a.stats().messages).toBeGreaterThan(0);
    expect(b.stats().messages).toBeGreaterThan(0);
    const conflicts = [...a.stats().shards, ...b.stats().shards].reduce((n, s) => n + s.conflicts, 0);
    expect(conflicts).toBeGreaterThan(0);
  });

  it('the shipper process SIGKILLed at random moments 20 times, restarted: nothing lost, nothing twice', async () => {
    const nats = await startNats();
    await createStream(nats.url, 'KILL');
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    const app = appender(log, 10);
    const holdFile = path.join(dir, 'holds', 'ship-KILL-shardlog.json');
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let shippedByChildren = 0;
    for (let round = 0; round < 20; round++) {
      const holdIno = () => {
        try {
          return fs.statSync(holdFile).ino;
        } catch {
          return -1;
        }
      };
      const ino = holdIno();
      const child = spawn(process.execPath, [BIN, dir, '--server', nats.url, '--stream', 'KILL', '--poll-ms', '10', '--max-batch-entries', '16', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      // the shipper writes its hold once it has resumed from the stream: from then on, kill it at a random moment
      await until(() => holdIno() !== ino || child.exitCode !== null, 'the shipper to start');
      await sleep(rand() * 250);
      expect(child.exitCode, err).toBe(null); // still running: it only stops when told
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    const appended = await app.stop();
    await log.close();
    const want = await logRecords(dir);
    expect(want.length).toBe(appended);
    const partial = await streamEntries(nats.url, 'KILL');
    shippedByChildren = partial.length;
    expect(shippedByChildren).toBeGreaterThan(0);
    // what the killed shippers got in is a prefix of each shard, each entry once
    const seqs = partial.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    // one more run to the end
    const last = shipLog({ dir, servers: nats.url, stream: 'KILL', pollMs: 10 });
    await caughtUp(last, lastSeqs(want, 2));
    await last.stop();
    expect(await streamEntries(nats.url, 'KILL')).toEqual(want);
  });
});
