#!/usr/bin/env node
/**
 * `node packages/bench/dist/ship.js`: what shipping to NATS JetStream costs. Starts its own
 * `nats-server -js` (or uses --server), writes N 100-byte entries into a 4-shard log, then measures
 * entries/s shipped by shipLog with one message per entry and with batched messages, against a plain
 * loop publishing the same bytes (one 100-byte message per entry) with the NATS client, awaited one
 * at a time and with a window of 256 in flight; and, under a steady load, the lag from an entry's
 * durable() to the stream's acknowledgement of it (p50/p99). Every shipping run is checked: the
 * stream must hold exactly N entries. Prints a Markdown table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { openLog, readLog } from '@shardlog/core';
import { shipLog } from '@shardlog/ship';
import { serverProblem } from '@shardlog/ship/command';
import { numberArg, toolArgs, usageExit } from './tool-args.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function startServer(store: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: 'ignore' });
  proc.on('error', (e) => {
    process.stderr.write(`cannot start nats-server (${e.message}): install it (Debian/Ubuntu: apt-get install nats-server) or pass --server\n`);
    process.exit(1);
  });
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
    if (ok) return { url: `nats://127.0.0.1:${port}`, proc };
    await sleep(25);
  }
  throw new Error('nats-server did not start');
}

function payload(i: number): Buffer {
  const b = Buffer.alloc(100, 97 + (i % 26));
  b.write(String(i));
  return b;
}

async function newStream(url: string, name: string, prefix: string): Promise<void> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name, subjects: [`${prefix}.>`] });
  await nc.close();
}

async function streamMsgs(url: string, name: string): Promise<number> {
  const nc = await connect({ servers: url });
  const info = await (await jetstreamManager(nc)).streams.info(name);
  await nc.close();
  return info.state.messages;
}

/** A plain loop: one 100-byte message per entry, `window` publishes in flight. */
async function plainLoop(url: string, n: number, window: number, tag: string): Promise<number> {
  await newStream(url, `PLAIN_${tag}`, `plain${tag}`);
  const nc = await connect({ servers: url });
  const js = jetstream(nc);
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < n; i++) {
    const p: Promise<unknown> = js.publish(`plain${tag}.${i % 4}`, payload(i), { msgID: `x:${i}` }).then((): boolean => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const dt = performance.now() - t0;
  await nc.close();
  if ((await streamMsgs(url, `PLAIN_${tag}`)) !== n) throw new Error('plain loop: stream does not hold every message');
  return (n * 1000) / dt;
}

/** shipLog over a log already holding n entries: entries/s from start to the last ack. */
async function shipRun(url: string, dir: string, n: number, maxBatchEntries: number, tag: string): Promise<{ rate: number; messages: number }> {
  await newStream(url, `SHIP_${tag}`, `ship${tag}`);
  const log = await openLog({ dir });
  const t0 = performance.now();
  const s = shipLog({ log, servers: url, stream: `SHIP_${tag}`, subjectPrefix: `ship${tag}`, maxBatchEntries, hold: false });
  await s.ready;
  while (s.stats().shippedEntries < n) {
    if (s.stats().error) throw s.stats().error;
    await sleep(2);
  }
  const dt = performance.now() - t0;
  const messages = s.stats().messages;
  await s.stop();
  await log.close();
  let got = 0;
  const nc = await connect({ servers: url });
  const info = await (await jetstreamManager(nc)).streams.info(`SHIP_${tag}`);
  await nc.close();
  got = info.state.messages;
  if (got !== messages) throw new Error(`ship run: ${got} messages in the stream, ${messages} acknowledged`);
  return { rate: (n * 1000) / dt, messages };
}

/** Steady load: `rate` entries/s for `seconds`; lag from durable() to the ack, sampled every 50th entry. */
async function lagRun(url: string, root: string, rate: number, seconds: number): Promise<{ p50: number; p99: number; samples: number }> {
  await newStream(url, 'LAG', 'lag');
  const dir = path.join(root, 'lag');
  const log = await openLog({ dir, shards: 4, sync: 'batch' });
  const acks: { t: number; shard: number; seq: number }[] = [];
  const s = shipLog({ log, servers: url, stream: 'LAG', subjectPrefix: 'lag', hold: false, onShipped: (shard, seq) => acks.push({ t: performance.now(), shard, seq }) });
  await s.ready;
  const durableAt = new Map<number, number>();
  const t0 = performance.now();
  let i = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; i < due; i++) {
      const seq = log.append(payload(i));
      if (i % 50 === 0) void log.durable(seq).then(() => durableAt.set(seq, performance.now()));
    }
    await sleep(1);
  }
  await log.close();
  await s.done;
  const shardOf = new Map<number, number>();
  for await (const e of readLog({ dir })) if (durableAt.has(e.seq)) shardOf.set(e.seq, e.shard);
  const lags: number[] = [];
  for (const [seq, td] of durableAt) {
    const a = acks.find((x) => x.shard === shardOf.get(seq) && x.seq >= seq);
    if (a) lags.push(Math.max(0, a.t - td));
  }
  lags.sort((a, b) => a - b);
  const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), samples: lags.length };
}

const USAGE = 'Usage: node packages/bench/dist/ship.js [--n N (default 100000)] [--rate ENTRIES_PER_SEC (default 20000)] [--server nats://host:port]\n';

async function main(): Promise<void> {
  const values = toolArgs(USAGE, { n: { type: 'string' }, server: { type: 'string' }, rate: { type: 'string' } });
  const n = numberArg(USAGE, values, 'n', 100_000, { integer: true });
  const rate = numberArg(USAGE, values, 'rate', 20_000, { min: 1 });
  const problem = values.server === undefined ? undefined : serverProblem(values.server);
  if (problem) usageExit(USAGE, `--server: ${problem}`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shardlog-bench-ship-'));
  let proc: ChildProcess | undefined;
  let url = values.server;
  if (!url) ({ url, proc } = await startServer(path.join(root, 'nats')));
  try {
    const dir = path.join(root, 'log');
    const log = await openLog({ dir, shards: 4, sync: 'batch' });
    for (let i = 0; i < n; i++) log.append(payload(i));
    await log.close();
    const rows: [string, string, string][] = [];
    const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
    const say = (what: string, r: number, msgs: string) => {
      rows.push([what, fmt(r), msgs]);
      process.stderr.write(`${what}: ${fmt(r)} entries/s\n`);
    };
    say('NATS client loop, 1 msg per entry, awaited one by one', await plainLoop(url, Math.min(n, 20_000), 1, 'a'), fmt(Math.min(n, 20_000)));
    say('NATS client loop, 1 msg per entry, 256 in flight', await plainLoop(url, n, 256, 'b'), fmt(n));
    const one = await shipRun(url, dir, n, 1, 'one');
    say('shipLog, 1 msg per entry (maxBatchEntries: 1)', one.rate, fmt(one.messages));
    const batched = await shipRun(url, dir, n, 4096, 'batch');
    say('shipLog, batched (default: up to 64 KiB per msg)', batched.rate, fmt(batched.messages));
    const lag = await lagRun(url, root, rate, 3);
    process.stdout.write(`\nShipping ${fmt(n)} entries of 100 bytes from a 4-shard log to JetStream (nats-server on this machine)\n\n`);
    process.stdout.write('| run | entries/s | messages |\n|---|---:|---:|\n');
    for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
    process.stdout.write(`\nLag from durable() to stream ack at ${fmt(rate)} entries/s (sync: 'batch', batched): p50 ${lag.p50.toFixed(2)} ms, p99 ${lag.p99.toFixed(2)} ms (${lag.samples} samples)\n`);
  } finally {
    proc?.kill('SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main().catch((e: Error) => {
  // a server that does not answer (or resolve), a stream it refuses: one line, not a stack trace
  process.stderr.write(`ship.js: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}\n`);
  process.exit(1); // the client's reconnect timers must not keep a failed run alive
});
