#!/usr/bin/env node
/**
 * `node packages/bench/dist/durable-trace.js [--rate N] [--seconds S] [--warmup S] [--dir DIR]`: where shardlog's
 * durable-ack latency goes. One traced run of the durable-ack case (sync 'batch', one shard, the
 * same steady-load driver): the writer's sync trace (TestFaults.syncTrace: batches written,
 * fdatasyncs inline or on libuv's pool, durable publications) is laid against each group's
 * scheduled, appended and acked times, and every entry's latency is split into: waiting to be
 * appended, appended → written by the writer, written → the start of the fdatasync that covers it
 * (a sync in flight), that fdatasync, and its end → the ack on the main thread (publication and
 * the thread wake-ups). Prints the split for the median groups and the worst 1%, and the slow
 * fdatasyncs: how many, and how much of their time the writer thread spent waiting for a CPU after
 * the disk was done (schedstat). The first `--warmup` seconds run at the same load and are left out.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openLog } from '@shardlog/core';
import { readSyncTrace, type SyncTraceRows } from '@shardlog/workers';
import { drive } from './cases/durable.js';
import { POOL_MASK, stringPool } from './entries.js';
import { numberArg, toolArgs, usageExit } from './tool-args.js';

/** One ack group: entries [first, last), scheduled from `sched` (first entry), appended, acked (wall ms). */
interface Group {
  first: number;
  last: number;
  sched: number;
  appended: number;
  seq: number;
  acked: number;
}
type Trace = SyncTraceRows;

const wall = (): number => performance.timeOrigin + performance.now();

async function tracedRun(rate: number, seconds: number, dir: string, traceFile: string): Promise<Group[]> {
  const log = await openLog({ dir, shards: 1, sync: 'batch', testFaults: { syncTrace: traceFile } });
  const pool = stringPool('ascii');
  const total = Math.max(1, Math.round(rate * seconds));
  const groups: Group[] = [];
  let acked = 0;
  let allAcked!: () => void;
  const settled = new Promise<void>((r) => (allAcked = r));
  const t0 = performance.now();
  const origin = performance.timeOrigin + t0;
  await drive(rate, total, t0, (first, last) => {
    let seq = 0;
    for (let i = first; i < last; i++) seq = log.append(pool[i & POOL_MASK]);
    const g: Group = { first, last, sched: origin + (first * 1000) / rate, appended: wall(), seq, acked: 0 };
    groups.push(g);
    void log.durable(seq).then(() => {
      g.acked = wall();
      acked += last - first;
      if (acked === total) allAcked();
    });
  }, settled);
  await log.close();
  return groups;
}


/** The first index whose key is >= x (keys ascending). */
function lowerBound(keys: number[], x: number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const PARTS = ['waiting to be appended', 'appended → written', 'written → its sync starts', 'the fdatasync', 'sync end → ack (publish, wake)'] as const;

/** Per group: latency of its first entry and its parts (ms), and whether its sync ran inline. */
function split(groups: Group[], t: Trace): { total: number; parts: number[]; inline: boolean; n: number }[] {
  const wSeq = t.writes.map((w) => w.maxSeq);
  // syncs complete in start order (one in flight at a time): a running max of seq is ascending
  const sSeq: number[] = [];
  for (const s of t.syncs) sSeq.push(Math.max(s.seq, sSeq.length ? sSeq[sSeq.length - 1] : -1));
  const out = [];
  for (const g of groups) {
    const w = t.writes[lowerBound(wSeq, g.seq)];
    const s = t.syncs[lowerBound(sSeq, g.seq)];
    if (!w || !s || !g.acked) continue;
    const parts = [g.appended - g.sched, w.end - g.appended, s.start - w.end, s.end - s.start, g.acked - s.end];
    out.push({ total: g.acked - g.sched, parts, inline: s.kind === 'inline', n: g.last - g.first });
  }
  return out.sort((a, b) => a.total - b.total);
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function describe(label: string, rows: ReturnType<typeof split>): string {
  const mean = (k: number) => rows.reduce((a, r) => a + r.parts[k], 0) / rows.length;
  const inline = rows.filter((r) => r.inline).length / rows.length;
  const parts = PARTS.map((p, k) => `${p} ${mean(k).toFixed(2)}`).join(' | ');
  return `${label} (${rows.length} groups, ${(inline * 100).toFixed(0)}% synced inline): ${parts}`;
}

function report(groups: Group[], t: Trace, rate: number): string {
  const rows = split(groups, t);
  const lat = rows.flatMap((r) => Array.from({ length: r.n }, (_, i) => r.total - (i * 1000) / rate));
  const d = (kind: string) => t.syncs.filter((s) => s.kind === kind).map((s) => s.end - s.start);
  const f = (xs: number[]) => `n ${xs.length}, p50 ${pct(xs, 50).toFixed(2)}, p99 ${pct(xs, 99).toFixed(2)}, max ${pct(xs, 100).toFixed(2)}`;
  const pSeq = t.published.map((p) => p.seq);
  const wake = groups.map((g) => t.published[lowerBound(pSeq, g.seq)]).map((p, i) => (p ? groups[i].acked - p.at : NaN)).filter((x) => x >= 0);
  return [
    `entries, ms: p50 ${pct(lat, 50).toFixed(2)}, p99 ${pct(lat, 99).toFixed(2)}, max ${pct(lat, 100).toFixed(2)}`,
    `fdatasync inline (writer thread), ms: ${f(d('inline'))}`,
    `fdatasync background (libuv pool, to the writer's callback), ms: ${f(d('background'))}`,
    `durable published → ack on the main thread, ms: ${f(wake)}`,
    describe('median 50% of groups, mean ms', rows.slice(rows.length >> 2, (3 * rows.length) >> 2)),
    describe('worst 1% of groups, mean ms', rows.slice(Math.floor(rows.length * 0.99))),
    `1-minute load average ${os.loadavg()[0].toFixed(2)}`,
  ].join('\n');
}

const HELP = `Usage: node packages/bench/dist/durable-trace.js [options]

One traced run of the durable-ack case (sync 'batch', one shard, a steady offered load) that splits
each entry's latency into its parts, from the writer's own trace of batches, fdatasyncs and
durable publications. Prints the split for the median groups and the worst 1%, and the slow
fdatasyncs with the share of their time the writer waited for a CPU.

Options:
  --rate N       offered entries per second (default 200000)
  --seconds S    measured seconds (default 2)
  --warmup S     seconds at the same load first, left out of the numbers (default 1)
  --dir DIR      where the log is written (default: the OS temp dir)
  -h, --help     this help
`;

async function main(): Promise<void> {
  const values = toolArgs(HELP, { rate: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' }, dir: { type: 'string' } });
  const rate = numberArg(HELP, values, 'rate', 200_000, { min: 1 });
  const seconds = numberArg(HELP, values, 'seconds', 2, { min: 0.1 });
  const warmup = numberArg(HELP, values, 'warmup', 1, { min: 0 });
  if (values.dir !== undefined && !fs.statSync(values.dir, { throwIfNoEntry: false })?.isDirectory()) usageExit(HELP, `--dir: no such directory: ${values.dir}`);
  const root = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'shardlog-durable-trace-'));
  try {
    const traceFile = path.join(root, 'sync-trace.txt');
    const warm = Math.round(rate * warmup);
    const all = await tracedRun(rate, seconds + warmup, path.join(root, 'log'), traceFile);
    const groups = all.filter((g) => g.first >= warm);
    const from = groups.length ? groups[0].sched : 0;
    const t = readSyncTrace(traceFile);
    const after = { ...t, syncs: t.syncs.filter((x) => x.start >= from), yields: t.yields.filter((x) => x.start >= from) };
    process.stdout.write(report(groups, t, rate) + '\n' + slowSyncs(after, seconds) + '\n');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Slow inline fdatasyncs (over 1 ms) and how much of them was the writer waiting for a CPU. */
function slowSyncs(t: Trace, seconds: number): string {
  const slow = t.syncs.filter((x) => x.kind === 'inline' && x.end - x.start > 1);
  const total = slow.reduce((a, x) => a + (x.end - x.start), 0);
  const waited = slow.reduce((a, x) => a + (Number.isFinite(x.waitMs) ? x.waitMs : 0), 0);
  const known = slow.some((x) => Number.isFinite(x.waitMs));
  const longYields = t.yields.filter((y) => y.end - y.start > 1).length;
  return [
    `slow inline fdatasyncs (> 1 ms): ${slow.length} (${(slow.length / seconds).toFixed(1)}/s), ${total.toFixed(1)} ms in all` +
      (known ? `, of which the writer thread waited for a CPU ${waited.toFixed(1)} ms (${total ? ((100 * waited) / total).toFixed(0) : 0}%)` : ''),
    `writer yields to its event loop longer than 1 ms: ${longYields} of ${t.yields.length}`,
  ].join('\n');
}

await main();
