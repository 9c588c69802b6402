/**
 * Several producer threads into one log: aggregate append throughput of the main thread plus
 * worker threads (attachProducer) against one producer, into 1 or more shards. A short, standalone
 * run (no verification of the files: the engine-producers tests check what lands on disk).
 *
 *   node packages/bench/dist/producers.js [--producers 3] [--shards 1] [--shape ascii|utf8|binary]
 *                                          [--n 3000000] [--shared]   (--help: the options)
 *
 * `--n` entries in all, split evenly over the producers (the main thread is one of them). With one
 * producer, `--shared` hands out a producer handle first, so the main thread takes the shared path
 * (lock + shared sequence counter) instead of the exclusive one. Every producer waits on a start
 * flag in shared memory, then appends its share in a loop and stores its end time (the monotonic
 * clock is the same in every thread); the result is n / (last end - start), sync 'none', 8 MiB
 * rings. A full ring blocks the producer (onFull: 'wait'), so the writers' speed bounds the result.
 * mainCpuNs: the main thread's own CPU per entry it appended (cpu.ts), the producer's cost without
 * the time it slept on a full ring or a contended lock. Prints one JSON line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { attachProducer, openLog, type Entry, type ProducerHandle, type Producer } from '@shardlog/core';
import { mainThreadCpuNs } from './cpu.js';
import { binaryPool, POOL_MASK, stringPool, type Shape } from './entries.js';
import { numberArg, toolArgs, usageExit } from './tool-args.js';

interface Shared {
  flag: Int32Array;
  ends: Float64Array;
}

function pool(shape: Shape): Entry[] {
  return shape === 'binary' ? binaryPool() : stringPool(shape === 'utf8' ? 'utf8' : 'ascii');
}

function now(): number {
  return Number(process.hrtime.bigint());
}

/** One producer's loop: wait for the start flag, append `count` entries, store the end time. */
function produce(p: { append(e: Entry): number }, entries: Entry[], count: number, sh: Shared, id: number): void {
  Atomics.wait(sh.flag, 0, 0);
  for (let i = 0; i < count; i++) p.append(entries[i & POOL_MASK]);
  sh.ends[id] = now();
}

const SHAPES = ['ascii', 'utf8', 'binary'];

const USAGE = `Usage: node packages/bench/dist/producers.js [--producers P] [--shards S] [--shape ascii|utf8|binary] [--n N] [--shared]

Several producer threads into one log: the aggregate append throughput of the main thread plus
P - 1 worker threads, sync 'none', 8 MiB rings. Prints one JSON line.

Options:
  --producers P   producers, the main thread included (default 3)
  --shards S      shards (default 1)
  --shape SHAPE   ascii, utf8 (100-character strings) or binary (100 bytes) (default ascii)
  --n N           entries in all, split evenly over the producers (default 3000000)
  --shared        with one producer: take the shared path (lock + shared counter) anyway
  -h, --help      this help
`;

async function main(): Promise<void> {
  const values = toolArgs(USAGE, { producers: { type: 'string' }, shards: { type: 'string' }, shape: { type: 'string' }, n: { type: 'string' }, shared: { type: 'boolean' } });
  const producers = numberArg(USAGE, values, 'producers', 3, { integer: true });
  const shards = numberArg(USAGE, values, 'shards', 1, { integer: true });
  const shape = (values.shape ?? 'ascii') as Shape;
  if (!SHAPES.includes(shape)) usageExit(USAGE, `--shape must be one of ${SHAPES.join(', ')}, got ${JSON.stringify(values.shape)}`);
  const n = numberArg(USAGE, values, 'n', 3_000_000, { integer: true });
  if (n < producers) usageExit(USAGE, `--n ${n} is fewer entries than --producers ${producers}: every producer needs one at least`);
  const shared = !!values.shared || producers > 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardlog-producers-'));
  const log = await openLog({ dir: path.join(dir, 'log'), shards, sync: 'none' });
  const each = Math.floor(n / producers);
  const sab = new SharedArrayBuffer(8 + 8 * producers);
  const sh: Shared = { flag: new Int32Array(sab, 0, 1), ends: new Float64Array(sab, 8, producers) };
  const entries = pool(shape);
  // warm-up of the main thread's path (before any handle is handed out, if any will be)
  const handles: ProducerHandle[] = [];
  if (shared) for (let k = 1; k < Math.max(producers, 2); k++) handles.push(log.producerHandle());
  for (let i = 0; i < 200_000; i++) log.append(entries[i & POOL_MASK]);
  await log.durable();
  const workers = handles.slice(0, producers - 1).map((handle, k) => new Worker(new URL(import.meta.url), { workerData: { handle, shape, each, sab, id: k + 1 } }));
  await Promise.all(workers.map((w) => new Promise((res, rej) => (w.once('message', res), w.once('error', rej)))));
  await new Promise((r) => setTimeout(r, 50));
  const t0 = now();
  Atomics.store(sh.flag, 0, 1);
  Atomics.notify(sh.flag, 0);
  const cpu0 = mainThreadCpuNs();
  produce(log, entries, each, sh, 0);
  const mainCpu = (mainThreadCpuNs() - cpu0) / each;
  await Promise.all(workers.map((w) => new Promise((res) => w.once('exit', res))));
  const wall = Math.max(...sh.ends) - t0;
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const total = each * producers;
  const line = { node: process.version, producers, shards, shape, shared, entries: total, mPerS: +((total / wall) * 1e3).toFixed(3), nsPerEntry: +(wall / total).toFixed(1), mainCpuNs: +mainCpu.toFixed(1), load1: +os.loadavg()[0].toFixed(2) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function worker(): void {
  const { handle, shape, each, sab, id } = workerData as { handle: ProducerHandle; shape: Shape; each: number; sab: SharedArrayBuffer; id: number };
  const p: Producer = attachProducer(handle);
  const entries = pool(shape);
  const sh: Shared = { flag: new Int32Array(sab, 0, 1), ends: new Float64Array(sab, 8, (sab.byteLength - 8) / 8) };
  for (let i = 0; i < 100_000; i++) p.append(entries[i & POOL_MASK]); // warm-up
  parentPort!.postMessage('ready');
  produce(p, entries, each, sh, id);
}

if (isMainThread) {
  await main().catch((e: Error & { code?: string }) => {
    // a value the log refuses (too many shards) is a usage error; anything else a one-line failure
    if (e.code === 'ERR_SHARDLOG_INVALID_ARGUMENT') usageExit(USAGE, e.message);
    process.stderr.write(`producers.js: ${e.message}\n`);
    process.exit(1);
  });
} else worker();
