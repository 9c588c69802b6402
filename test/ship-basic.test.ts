/**
 * Shipping to a real nats-server: a multi-producer load shipped while it runs lands in the stream
 * exactly once, byte-exact, in seq order per subject; readJetStream gives it back in readLog's shape;
 * `shardlog ship --verify` agrees, and catches a difference.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { openLog, readLog } from '@shardlog/core';
import { decodeBatch, encodeBatch, msgId, parseMsgId, readJetStream, shipLog } from '@shardlog/ship';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { logDir, REPO_ROOT } from './helpers.js';
import { createStream, natsConnect, startNats, streamEntries } from './ship-support.js';

const BIN = path.join(REPO_ROOT, 'packages/ship/bin/shardlog-ship.js');
const PRODUCER = path.join(REPO_ROOT, 'test/fixtures/producer-thread.mjs');

async function logRecords(dir: string) {
  const out: { seq: number; shard: number; isText: boolean; hex: string }[] = [];
  for await (const e of readLog({ dir })) out.push({ seq: e.seq, shard: e.shard, isText: e.isText, hex: Buffer.from(e.data).toString('hex') });
  return out;
}

describe('batch encoding', () => {
  it('round-trips seqs, text flags and bytes, and names seq ranges in the dedup id', () => {
    const entries = [
      { seq: 7, isText: true, data: Buffer.from('héllo') },
      { seq: 9, isText: false, data: new Uint8Array([0, 255, 1]) },
      { seq: 300, isText: false, data: new Uint8Array(0) },
      { seq: 2 ** 40, isText: true, data: Buffer.alloc(200, 'x') },
    ];
    const b = encodeBatch(entries, 0, entries.length);
    expect(b[0]).toBe(1);
    expect(b[1]).toBe(4);
    const back = decodeBatch(b);
    expect(back.map((e) => [e.seq, e.isText, Buffer.from(e.data).toString('hex')])).toEqual(entries.map((e) => [e.seq, e.isText, Buffer.from(e.data).toString('hex')]));
    // 1 version + 1 count + per entry: delta varint + length varint + bytes
    expect(b.length).toBe(2 + (1 + 1 + 6) + (1 + 1 + 3) + (2 + 1 + 0) + (6 + 2 + 200));
    expect(() => decodeBatch(b.subarray(0, b.length - 1))).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_SHIP_BAD_MESSAGE' }));
    expect(msgId('L', 5, 5)).toBe('L:5');
    expect(parseMsgId(msgId('a:b', 5, 9))).toEqual({ logId: 'a:b', first: 5, last: 9 });
  });
});

describe('shipLog with a live multi-producer log', () => {
  it('puts every durable entry in the stream once, byte-exact, in seq order per subject; verify agrees', async () => {
    const nats = await startNats();
    await createStream(nats.url, 'LOAD');
    const dir = logDir();
    const log = await openLog({ dir, shards: 3, sync: 'batch', segmentBytes: 64 * 1024 });
    const shipper = shipLog({ log, servers: nats.url, stream: 'LOAD', maxBatchBytes: 4096 });
    await shipper.ready;
    const worker = new Worker(PRODUCER, { workerData: { handle: log.producerHandle(), id: 'w', count: 6000 } });
    const workerDone = new Promise((r) => worker.once('message', r));
    for (let i = 0; i < 6000; i++) {
      if (i % 2 === 0) log.append(`main:${i}`);
      else log.append(Buffer.from([i & 255, 0, (i >> 8) & 255]));
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    await workerDone;
    await worker.terminate();
    await log.close();
    await shipper.done; // the log closed and every entry is shipped
    const st = shipper.stats();
    expect(st.state).toBe('stopped');
    expect(st.shippedEntries).toBe(12000);
    expect(st.messages).toBeLessThan(12000); // batched
    expect(st.bufferedBytes).toBe(0);

    const want = await logRecords(dir);
    expect(want.length).toBe(12000);
    const got = await streamEntries(nats.url, 'LOAD');
    expect(got).toEqual(want);

    // in seq order per subject, each message's id naming its range
    const nc = await natsConnect(nats.url);
    const jsm = await jetstreamManager(nc);
    for (let s = 0; s < 3; s++) {
      let prev = 0;
      const c = await jetstream(nc).consumers.get('LOAD', { filter_subjects: `shardlog.${s}` });
      const info = await jsm.streams.info('LOAD', { subjects_filter: `shardlog.${s}` });
      const count = info.state.subjects![`shardlog.${s}`];
      let n = 0;
      for await (const m of await c.consume()) {
        const id = parseMsgId(m.headers!.get('Nats-Msg-Id'))!;
        const es = decodeBatch(m.data);
        expect(id.first).toBe(es[0].seq);
        expect(id.last).toBe(es[es.length - 1].seq);
        for (const e of es) {
          expect(e.seq).toBeGreaterThan(prev);
          prev = e.seq;
        }
        if (++n === count) break;
      }
    }
    await nc.close();

    // readJetStream from a seq
    const from = want[5000].seq;
    const part: number[] = [];
    for await (const e of readJetStream({ servers: nats.url, stream: 'LOAD', fromSeq: from })) part.push(e.seq);
    expect(part).toEqual(want.slice(5000).map((e) => e.seq));

    // shardlog ship --verify: same, exit 0
    const ok = spawnSync(process.execPath, [BIN, dir, '--server', nats.url, '--stream', 'LOAD', '--verify', '--json'], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, matched: 12000, differences: 0 });

    // a message slipped into a subject that repeats a seq with other bytes: exit 1, named
    const last = want.filter((e) => e.shard === 1).at(-1)!;
    const nc2 = await natsConnect(nats.url);
    const meta = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(path.join(dir, 'shardlog.json'), 'utf8'))) as { id: string };
    const forged = [
      { seq: last.seq, isText: true, data: Buffer.from('forged') },
      { seq: last.seq + 1_000_000, isText: true, data: Buffer.from('forged') },
    ];
    await jetstream(nc2).publish('shardlog.1', encodeBatch(forged, 0, 2), { msgID: msgId(meta.id, last.seq, last.seq + 1_000_000) });
    await nc2.close();
    const bad = spawnSync(process.execPath, [BIN, dir, '--server', nats.url, '--stream', 'LOAD', '--verify'], { encoding: 'utf8' });
    expect(bad.status, bad.stderr).toBe(1);
    expect(bad.stdout).toMatch(/DIFFERENT: 12000 entries match, 2 differences/);
    expect(bad.stdout).toContain(`seq ${last.seq} (shard 1): in the stream twice`);
  });

  it('ships one message per entry with maxBatchEntries: 1', async () => {
    const nats = await startNats();
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    const shipper = shipLog({ log, servers: nats.url, stream: 'ONE', createStream: true, maxBatchEntries: 1 });
    for (let i = 0; i < 200; i++) log.append(`e${i}`);
    await log.close();
    await shipper.done;
    expect(shipper.stats().messages).toBe(200);
    expect((await streamEntries(nats.url, 'ONE')).map((e) => e.seq)).toEqual((await logRecords(dir)).map((e) => e.seq));
  });
});

describe('readJetStream with a subject prefix', () => {
  it('a prefix the stream takes no subject of is an error naming the subjects; one it takes but holds nothing of reads nothing', async () => {
    const nats = await startNats();
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    const shipper = shipLog({ log, servers: nats.url, stream: 'PFX', subjectPrefix: 'app.wal', createStream: true });
    for (let i = 0; i < 50; i++) log.append(`e${i}`);
    await log.close();
    await shipper.done;
    const read = async (subjectPrefix?: string) => {
      const seqs: number[] = [];
      for await (const e of readJetStream({ servers: nats.url, stream: 'PFX', subjectPrefix })) seqs.push(e.seq);
      return seqs;
    };
    expect(await read('app.wal')).toEqual((await logRecords(dir)).map((e) => e.seq));
    for (const wrong of [undefined, 'app', 'app.wa', 'other']) {
      await expect(read(wrong), String(wrong)).rejects.toMatchObject({
        code: 'ERR_SHARDLOG_SHIP_NO_SUBJECT',
        message: expect.stringMatching(/stream 'PFX' takes no subject '.*\.<shard>' \(its subjects: app\.wal\.>\)/),
      });
    }
    // a stream whose subjects take the shards' with a wildcard before the shard number: read, never refused
    await createStream(nats.url, 'WILD', 'x', { subjects: ['*.log.0', '*.log.1'] });
    const log2 = await openLog({ dir: logDir(), shards: 2 });
    const shipper2 = shipLog({ log: log2, servers: nats.url, stream: 'WILD', subjectPrefix: 'q.log' });
    for (let i = 0; i < 10; i++) log2.append(`w${i}`);
    await log2.close();
    await shipper2.done;
    const wild: number[] = [];
    for await (const e of readJetStream({ servers: nats.url, stream: 'WILD', subjectPrefix: 'q.log' })) wild.push(e.seq);
    expect(wild).toEqual([...Array(10).keys()].map((i) => i + 1));
    const none0: number[] = [];
    for await (const e of readJetStream({ servers: nats.url, stream: 'WILD', subjectPrefix: 'z.log' })) none0.push(e.seq); // takes z.log.0: holds none yet
    expect(none0).toEqual([]);
    // a stream that takes the subjects but holds none of them yet: nothing, no error
    await createStream(nats.url, 'EMPTY', 'fresh.x');
    const none: number[] = [];
    for await (const e of readJetStream({ servers: nats.url, stream: 'EMPTY', subjectPrefix: 'fresh.x' })) none.push(e.seq);
    expect(none).toEqual([]);
  });
});
