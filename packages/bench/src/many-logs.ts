#!/usr/bin/env node
/**
 * `node packages/bench/dist/many-logs.js`: many logs in one process. The same total load (N 100-byte
 * entries, sync 'batch', C concurrent clients each appending a burst of 16 entries to the next log in
 * turn and awaiting durable() of its last) spread over 1, 10, 100 and 1,000 logs: through one log
 * manager with a pool of W writer threads, and through the same number of separate openLog calls
 * (one writer thread per log; that side stops at --max-separate logs, default 100, since 1,000 logs
 * would start 1,000 threads). Prints entries/s and the durable-ack latency of a burst (p50/p99) as a
 * Markdown table, and checks every run: each log holds exactly what was appended to it.
 * Then fairness: on a one-thread pool, a quiet log's durable-ack latency (one entry, then await it,
 * 300 times) alone and next to a hot log that 32 clients keep saturating with 1 KiB entries.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openLog, openLogManager, readLogSync, type Log } from '@shardlog/core';
import { numberArg, toolArgs, usageExit } from './tool-args.js';

const BURST = 16;

interface Row {
  logs: number;
  mode: string;
  threads: number;
  entriesPerSec: number;
  p50: number;
  p99: number;
  fsyncs: number;
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0;
}

/** C clients over `logs`, round robin, until `total` entries; latencies of each burst's durable(). */
async function drive(logs: Log[], total: number, clients: number): Promise<{ secs: number; lat: number[] }> {
  const entry = Buffer.alloc(100, 0x61);
  const lat: number[] = [];
  let issued = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (issued < total) {
        issued += BURST;
        const log = logs[next++ % logs.length];
        let seq = 0;
        const t = performance.now();
        for (let i = 0; i < BURST; i++) seq = log.append(entry);
        await log.durable(seq);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { secs: (performance.now() - t0) / 1000, lat: lat.sort((a, b) => a - b) };
}

function check(dir: string, expected: number): void {
  let n = 0;
  for (const _ of readLogSync({ dir })) n++;
  if (n !== expected) throw new Error(`${dir}: ${n} entries on disk, ${expected} appended`);
}

async function runManager(root: string, n: number, total: number, clients: number, writers: number): Promise<Row> {
  const m = await openLogManager({ root, writers, maxOpenLogs: Math.max(n, 1) });
  const logs: Log[] = [];
  for (let i = 0; i < n; i += 50) logs.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => m.log(`log-${i + k}`)))));
  const { secs, lat } = await drive(logs, total, clients);
  const appended = logs.map((l) => l.nextSeq - 1);
  const st = m.stats();
  await m.close();
  for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 10))) check(path.join(root, `log-${i}`), appended[i]);
  const entries = appended.reduce((a, b) => a + b, 0);
  return { logs: n, mode: `manager (${writers} threads)`, threads: st.threads, entriesPerSec: entries / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99), fsyncs: st.fsyncs };
}

async function runSeparate(root: string, n: number, total: number, clients: number): Promise<Row> {
  const logs: Log[] = [];
  for (let i = 0; i < n; i++) logs.push(await openLog({ dir: path.join(root, `log-${i}`), shards: 1, ringBytes: 256 * 1024 }));
  const { secs, lat } = await drive(logs, total, clients);
  const appended = logs.map((l) => l.nextSeq - 1);
  const fsyncs = logs.reduce((a, l) => a + l.stats().fsyncs, 0);
  await Promise.all(logs.map((l) => l.close()));
  for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 10))) check(path.join(root, `log-${i}`), appended[i]);
  const entries = appended.reduce((a, b) => a + b, 0);
  return { logs: n, mode: 'separate openLog', threads: n, entriesPerSec: entries / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99), fsyncs };
}

/** The quiet log's ack latencies: one entry, await durable(), a 2 ms pause, `rounds` times. */
async function quietAcks(log: Log, rounds: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await log.durable(log.append('quiet'));
    lat.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 2));
  }
  return lat.sort((a, b) => a - b);
}

async function fairness(root: string): Promise<string> {
  const m = await openLogManager({ root, writers: 1 });
  const quiet = await m.log('quiet');
  const hot = await m.log('hot', { ringBytes: 4 * 1024 * 1024 });
  const alone = await quietAcks(quiet, 300);
  let stop = false;
  const entry = Buffer.alloc(1024, 0x68);
  const hotClients = Array.from({ length: 32 }, async () => {
    while (!stop) {
      let seq = 0;
      for (let i = 0; i < 256; i++) seq = hot.append(entry);
      await hot.durable(seq);
    }
  });
  const hot0 = hot.stats().payloadBytes;
  const t0 = performance.now();
  const busy = await quietAcks(quiet, 300);
  const hotMBs = (hot.stats().payloadBytes - hot0) / 1e6 / ((performance.now() - t0) / 1000);
  stop = true;
  await Promise.all(hotClients);
  await m.close();
  const f = (l: number[]) => `${pct(l, 0.5).toFixed(2)} | ${pct(l, 0.99).toFixed(2)} | ${l[l.length - 1].toFixed(2)}`;
  return (
    '| quiet log, one pool thread | ack p50 (ms) | p99 (ms) | max (ms) |\n|---|---:|---:|---:|\n' +
    `| alone | ${f(alone)} |\n| next to a hot log writing ${hotMBs.toFixed(0)} MB/s | ${f(busy)} |\n`
  );
}

const USAGE = `Usage: node packages/bench/dist/many-logs.js [options]

Many logs in one process: the same load over 1, 10, 100 and 1,000 logs, through one log manager
and through separate openLog calls; then the fairness of a one-thread pool. Prints Markdown tables.

Options:
  --entries N       entries in all per run (default 200000)
  --clients C       concurrent clients (default 64)
  --writers W       the manager's writer threads (default: cores - 1, at least 1)
  --logs LIST       comma-separated numbers of logs (default 1,10,100,1000)
  --max-separate N  the largest number of logs also run as separate openLog calls (default 100)
  --dir DIR         where the logs are written (default: the OS temp dir)
  -h, --help        this help
`;

async function main(): Promise<void> {
  const values = toolArgs(USAGE, {
    entries: { type: 'string' },
    clients: { type: 'string' },
    writers: { type: 'string' },
    logs: { type: 'string', default: '1,10,100,1000' },
    'max-separate': { type: 'string' },
    dir: { type: 'string' },
    fairness: { type: 'boolean', default: true },
  });
  const total = numberArg(USAGE, values, 'entries', 200_000, { integer: true });
  const clients = numberArg(USAGE, values, 'clients', 64, { integer: true });
  const writers = numberArg(USAGE, values, 'writers', Math.max(1, os.availableParallelism() - 1), { integer: true });
  const maxSeparate = numberArg(USAGE, values, 'max-separate', 100, { integer: true, min: 0 });
  const counts = values.logs.split(',').map(Number);
  if (counts.some((c) => !Number.isInteger(c) || c < 1)) usageExit(USAGE, `--logs must be a comma-separated list of positive integers, got ${JSON.stringify(values.logs)}`);
  if (values.dir !== undefined && !fs.statSync(values.dir, { throwIfNoEntry: false })?.isDirectory()) usageExit(USAGE, `--dir: no such directory: ${values.dir}`);
  const base = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'shardlog-many-'));
  const rows: Row[] = [];
  let fair = '';
  try {
    for (const n of counts) {
      rows.push(await runManager(path.join(base, `m${n}`), n, total, clients, writers));
      process.stderr.write(`manager, ${n} logs: done\n`);
      if (n <= maxSeparate) {
        rows.push(await runSeparate(path.join(base, `s${n}`), n, total, clients));
        process.stderr.write(`separate, ${n} logs: done\n`);
      }
    }
    if (values.fairness) fair = await fairness(path.join(base, 'fair'));
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
  process.stdout.write(`${total} entries of 100 bytes, sync 'batch', ${clients} clients appending bursts of ${BURST} and awaiting durable()\n\n`);
  process.stdout.write('| logs | writers | threads | entries/s | durable ack p50 (ms) | p99 (ms) | fdatasyncs |\n|---:|---|---:|---:|---:|---:|---:|\n');
  for (const r of rows) {
    process.stdout.write(`| ${r.logs} | ${r.mode} | ${r.threads} | ${Math.round(r.entriesPerSec).toLocaleString('en-US')} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.fsyncs.toLocaleString('en-US')} |\n`);
  }
  if (fair) process.stdout.write(`\n${fair}`);
}

await main();
