/** Shipping an encrypted log: the shipper reads it with the log's keys (in process) or with the keys it is given (a directory), and verifyShipped takes them too. */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { openLog, readLog, type EncryptionOptions } from '@shardlog/core';
import { shipLog, verifyShipped } from '@shardlog/ship';
import { logDir } from './helpers.js';
import { startNats, streamEntries, until } from './ship-support.js';

async function logRecords(dir: string, encryption: EncryptionOptions) {
  const out: { seq: number; hex: string }[] = [];
  for await (const e of readLog({ dir, encryption })) out.push({ seq: e.seq, hex: Buffer.from(e.data).toString('hex') });
  return out;
}

describe('shipping an encrypted log', () => {
  it('ships decrypted entries from an open log, and from its directory with the keys', async () => {
    const nats = await startNats();
    const k1 = Uint8Array.from(randomBytes(32));
    const dir = logDir();
    const log = await openLog({ dir, shards: 2, encryption: { keys: { k1: Uint8Array.from(k1) }, keyId: 'k1' } });
    const shipper = shipLog({ log, servers: nats.url, stream: 'ENC', createStream: true });
    for (let i = 0; i < 500; i++) log.append(`secret ${i}`);
    await log.close();
    await shipper.done;
    const want = await logRecords(dir, { keys: { k1 } });
    expect(want).toHaveLength(500);
    expect((await streamEntries(nats.url, 'ENC')).map((e) => ({ seq: e.seq, hex: e.hex }))).toEqual(want);
    const v = await verifyShipped({ dir, servers: nats.url, stream: 'ENC', encryption: { keys: { k1 } } });
    expect(v.ok).toBe(true);
    expect(v.matched).toBe(500);

    // the same log from its directory, into another stream
    const fromDir = shipLog({ dir, servers: nats.url, stream: 'ENC2', subjectPrefix: 'enc2', createStream: true, hold: false, encryption: { keys: { k1 } } });
    await fromDir.ready; // connected, the stream created
    await until(async () => (await streamEntries(nats.url, 'ENC2', 'enc2')).length === 500, 'the directory shipped');
    await fromDir.stop();
    expect((await streamEntries(nats.url, 'ENC2', 'enc2')).map((e) => ({ seq: e.seq, hex: e.hex }))).toEqual(want);
  });
});
