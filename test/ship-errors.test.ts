/**
 * What a shipper refuses to do, loudly: a stream that does not exist (unless asked to create it), a
 * stream that is full, a subject the stream does not take, a subject holding another log's
 * messages, a log without an id; the command's usage errors (exit 2); and the prom-client gauges.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { openLog } from '@shardlog/core';
import { registerShipMetrics, shipLog, ShipError } from '@shardlog/ship';
import { logDir, REPO_ROOT } from './helpers.js';
import { createStream, startNats, until } from './ship-support.js';

const BIN = path.join(REPO_ROOT, 'packages/ship/bin/shardlog-ship.js');

async function smallLog(n = 10, shards = 1) {
  const dir = logDir();
  const log = await openLog({ dir, shards });
  for (let i = 0; i < n; i++) log.append(`e${i}`);
  await log.close();
  return dir;
}

describe('shipper refusals', () => {
  it('a missing stream fails with ERR_SHARDLOG_SHIP_NO_STREAM, createStream creates it', async () => {
    const nats = await startNats();
    const dir = await smallLog();
    const s = shipLog({ dir, servers: nats.url, stream: 'NOPE' });
    await expect(s.done).rejects.toMatchObject({ code: 'ERR_SHARDLOG_SHIP_NO_STREAM' });
    expect(s.stats().state).toBe('failed');
    expect(s.stats().error).toBeInstanceOf(ShipError);
    const c = shipLog({ dir, servers: nats.url, stream: 'NOPE', createStream: true, pollMs: 10 });
    await c.ready;
    await until(() => c.stats().shards[0]?.shippedSeq === 10, 'the 10 entries shipped');
    await c.stop();
  });

  it("a full stream (max_msgs, discard new) fails with the server's reason and code", async () => {
    const nats = await startNats();
    await createStream(nats.url, 'FULL', 'shardlog', { max_msgs: 3, discard: 'new' });
    const dir = await smallLog(10);
    const s = shipLog({ dir, servers: nats.url, stream: 'FULL', maxBatchEntries: 1 });
    const err = (await s.done.catch((e: unknown) => e)) as ShipError;
    expect(err).toBeInstanceOf(ShipError);
    expect(err.code).toBe('ERR_SHARDLOG_SHIP_REFUSED');
    expect(err.message).toMatch(/maximum messages exceeded/);
    expect(err.serverCode).toBeGreaterThan(10000);
    expect(s.stats().shards[0].shippedSeq).toBe(3); // what got in stays in; nothing dropped silently
  });

  it('a stream that does not take the subject, and a subject holding another log, are refused', async () => {
    const nats = await startNats();
    await createStream(nats.url, 'OTHER', 'other');
    const dir = await smallLog(5);
    const s = shipLog({ dir, servers: nats.url, stream: 'OTHER' });
    await expect(s.done).rejects.toMatchObject({ code: 'ERR_SHARDLOG_SHIP_REFUSED', message: expect.stringMatching(/does not take subject 'shardlog.0'/) });

    await createStream(nats.url, 'SHARED', 'shared');
    const first = shipLog({ dir, servers: nats.url, stream: 'SHARED', subjectPrefix: 'shared', pollMs: 10 });
    await first.ready;
    await until(() => first.stats().shards[0]?.shippedSeq === 5, 'the first log shipped');
    await first.stop();
    const otherLog = await smallLog(5);
    const second = shipLog({ dir: otherLog, servers: nats.url, stream: 'SHARED', subjectPrefix: 'shared' });
    await expect(second.done).rejects.toMatchObject({ code: 'ERR_SHARDLOG_SHIP_FOREIGN' });
  });

  it('a publish the account may not make fails with the permissions violation', async () => {
    const conf = path.join(logDir('nats-conf'), 'server.conf');
    fs.mkdirSync(path.dirname(conf), { recursive: true });
    fs.writeFileSync(
      conf,
      `accounts { A: { jetstream: enabled, users: [
        { user: ship, password: pw, permissions: { publish: { allow: ["$JS.API.>", "_INBOX.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
        { user: admin, password: pw } ] } }\n`,
    );
    const nats = await startNats(['-c', conf]);
    await createStream(nats.url, 'PERM', 'shardlog', {}, { user: 'admin', pass: 'pw' });
    const dir = await smallLog(3);
    const s = shipLog({ dir, servers: nats.url, stream: 'PERM', nats: { user: 'ship', pass: 'pw' } });
    await expect(s.done).rejects.toMatchObject({ code: 'ERR_SHARDLOG_SHIP_REFUSED', message: expect.stringMatching(/Permissions Violation for Publish to "shardlog.0"/) });
  });

  it('started while no server runs: waits and says so, ships once the server comes, stops cleanly while waiting', async () => {
    const nats = await startNats();
    await nats.kill();
    const dir = await smallLog(5);
    const idle = shipLog({ dir, servers: nats.url, stream: 'LATE', createStream: true, pollMs: 10 });
    const s = shipLog({ dir, servers: nats.url, stream: 'LATE', createStream: true, pollMs: 10 });
    await until(() => /connection refused/.test(s.stats().waitingFor ?? ''), 'the shipper to say what it waits for');
    expect(s.stats()).toMatchObject({ state: 'starting', waitingFor: expect.stringMatching(/^the NATS server at nats:\/\/127.0.0.1:\d+ \(connection refused/) });
    await idle.stop();
    expect(idle.stats().state).toBe('stopped');
    await nats.start();
    await s.ready;
    const t0 = Date.now();
    while (s.stats().shards[0]?.shippedSeq !== 5 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(s.stats().shards[0].shippedSeq).toBe(5);
    await s.stop();
  });

  it('a log without an id cannot be shipped; bad options are refused', async () => {
    const dir = await smallLog(1);
    const file = path.join(dir, 'shardlog.json');
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(m.id).toMatch(/^[0-9a-f-]{36}$/);
    delete m.id;
    fs.writeFileSync(file, JSON.stringify(m));
    expect(() => shipLog({ dir, servers: 'nats://127.0.0.1:1', stream: 'X' })).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_SHIP_NO_LOG_ID' }));
    // and bad options are InvalidArgumentErrors
    const bad = { code: 'ERR_SHARDLOG_INVALID_ARGUMENT' };
    expect(() => shipLog({ servers: 'nats://127.0.0.1:1', stream: 'X' })).toThrow(expect.objectContaining(bad));
    expect(() => shipLog({ dir, servers: 'nats://127.0.0.1:1', stream: 'a.b' })).toThrow(expect.objectContaining(bad));
    expect(() => shipLog({ dir, servers: 'nats://127.0.0.1:1', stream: 'X', subjectPrefix: 'a.*' })).toThrow(expect.objectContaining(bad));
    expect(() => shipLog({ dir, servers: 'nats://127.0.0.1:1', stream: 'X', maxBufferedBytes: 0 })).toThrow(expect.objectContaining(bad));
  });

  it('the command: usage errors exit 2, --help exits 0, a refusal exits 1 with the code, --json summary', async () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
    const dir = await smallLog(4, 2);
    expect(run('--help').stdout).toMatch(/Usage: shardlog ship DIR --server/);
    expect(run().status).toBe(2);
    expect(run(dir, '--stream', 'S').stderr).toMatch(/missing --server/);
    expect(run(dir, '--server', 'nats://127.0.0.1:1').status).toBe(2);
    expect(run(dir, '--server', 'nats://127.0.0.1:1', '--stream', 'S', '--bogus').status).toBe(2);
    expect(run(path.join(dir, 'nothing'), '--server', 'nats://127.0.0.1:1', '--stream', 'S').status).toBe(2);
    const nats = await startNats();
    const r = run(dir, '--server', nats.url, '--stream', 'MISSING', '--json');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\[ERR_SHARDLOG_SHIP_NO_STREAM\]/);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'failed', error: { code: 'ERR_SHARDLOG_SHIP_NO_STREAM' } });
  });

  it('the command prints a progress line per second, stops on SIGTERM with exit 0, and sums up in JSON', async () => {
    const nats = await startNats();
    const dir = await smallLog(8, 2);
    const child = spawn(process.execPath, [BIN, dir, '--server', nats.url, '--stream', 'PROG', '--create-stream', '--json', '--poll-ms', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const t0 = Date.now();
    while (!/shipped seq 0:\d+ 1:\d+, lag 0 entries/.test(err) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code, err).toBe(0);
    expect(err).toMatch(/^ship: (shipping|waiting), \d+ entries\/s, shipped seq 0:\d+ 1:\d+, lag 0 entries 0 bytes, buffered 0 bytes$/m);
    const summary = JSON.parse(out);
    expect(summary).toMatchObject({ state: 'stopped', shippedEntries: 8 });
    expect(summary.shards.map((x: { shippedSeq: number }) => x.shippedSeq).sort()).toEqual([7, 8]);
  });

  it('registerShipMetrics exports the stats as gauges', async () => {
    const nats = await startNats();
    const dir = await smallLog(6, 2);
    const s = shipLog({ dir, servers: nats.url, stream: 'M', createStream: true, pollMs: 10 });
    const registry = new Registry();
    const reg = registerShipMetrics(s, registry, { labels: { stream: 'M' } });
    await s.ready;
    await until(() => s.stats().shippedEntries === 6 && s.stats().state === 'shipping', 'the 6 entries shipped');
    const text = await registry.metrics();
    const seqs = s.stats().shards.map((x) => x.shippedSeq);
    expect(seqs.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    for (const [i, seq] of seqs.entries()) expect(text).toContain(`shardlog_ship_shipped_seq{stream="M",shard="${i}"} ${seq}`);
    expect(text).toContain('shardlog_ship_shipped_entries{stream="M"} 6');
    expect(text).toMatch(/shardlog_ship_state\{stream="M",state="shipping"\} 1/);
    await s.stop();
    reg.unregister();
    expect(await registry.metrics()).toBe('\n');
  });
});
