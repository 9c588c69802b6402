/**
 * Per-append cost of two builds of @shardlog/core in one process, interleaved: for comparing a
 * change to the producer against the code before it on a noisy machine (both builds see the same
 * load, round by round). Each build opens its own log (one shard, sync 'none', 64 MiB ring); the
 * rounds alternate A B, B A, ... (61 rounds of 2,000 appends per shape); before each round the
 * ring is let drain, so the producer never waits for room inside a timed round. Prints min, 10th
 * percentile and median ns per append for each build and the ratios B / A.
 *
 *   node packages/bench/dist/ab-append.js --a OLD/packages/core/dist/index.js \
 *        --b packages/core/dist/index.js [--shared] [--shapes ascii,utf8,binary,json]
 *
 * --shared hands out a producer handle first: the main thread then takes the shared path.
 * Shapes: ascii, utf8, binary (100 bytes), json (1 KiB), many (appendMany of 64 ASCII entries,
 * reported per entry).
 * A build of the code before a change: `git worktree add` (or a copy of the tree) at that commit,
 * built with the same command.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Entry, Log } from '@shardlog/core';
import { binaryPool, stringPool } from './entries.js';
import { toolArgs, usageExit } from './tool-args.js';

const RING = 64 << 20;
const BATCH = 2000;
const ROUNDS = 61;
const SHAPES = ['ascii', 'utf8', 'binary', 'json', 'many'];

const USAGE = `Usage: node packages/bench/dist/ab-append.js --a OLD/packages/core/dist/index.js --b packages/core/dist/index.js [options]

Per-append cost of two builds of @shardlog/core in one process, interleaved round by round.

Options:
  --a FILE       the first build's core dist/index.js (required)
  --b FILE       the second build's core dist/index.js (required)
  --shared       hand out a producer handle first (the main thread takes the shared path)
  --shapes LIST  comma-separated, of ${SHAPES.join(', ')} (default ascii,utf8,binary)
  -h, --help     this help
`;

async function openBuild(file: string, shared: boolean): Promise<Log> {
  const core = (await import(pathToFileURL(path.resolve(file)).href)) as typeof import('@shardlog/core');
  const log = await core.openLog({ dir: fs.mkdtempSync(path.join(os.tmpdir(), 'shardlog-ab-')), shards: 1, sync: 'none', ringBytes: RING });
  if (shared) log.producerHandle();
  return log;
}

async function drained(log: Log): Promise<void> {
  while (log.stats().shards[0].pendingBytes > RING / 16) await new Promise((r) => setTimeout(r, 1));
}

function loopFor(log: Log, shape: string, pool: Entry[]): (n: number) => void {
  // a fresh function per build and shape, so each call site has its own type feedback
  if (shape === 'many') {
    const groups = Array.from({ length: 16 }, (_, g) => pool.slice(g * 64, g * 64 + 64));
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- on purpose
    const make = new Function('log', 'groups', 'return function (n) { let k = 0; for (let i = 0; i < n; i += 64) { log.appendMany(groups[k]); k = (k + 1) & 15; } }');
    return make(log, groups) as (n: number) => void;
  }
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- on purpose
  const make = new Function('log', 'pool', 'return function (n) { let k = 0; for (let i = 0; i < n; i++) { log.append(pool[k]); k = (k + 1) & 1023; } }');
  return make(log, pool) as (n: number) => void;
}

function quantiles(a: number[]): number[] {
  a.sort((x, y) => x - y);
  return [a[0], a[Math.floor(a.length * 0.1)], a[a.length >> 1]].map((x) => +x.toFixed(1));
}

async function main(): Promise<void> {
  const values = toolArgs(USAGE, { a: { type: 'string' }, b: { type: 'string' }, shared: { type: 'boolean' }, shapes: { type: 'string' } });
  const { a, b } = values;
  if (!a || !b) usageExit(USAGE, 'both --a and --b are required');
  for (const f of [a, b]) if (!fs.existsSync(f) || !fs.statSync(f).isFile()) usageExit(USAGE, `no such file: ${f}`);
  const shared = values.shared === true;
  const shapes = (values.shapes ?? 'ascii,utf8,binary').split(',');
  const unknown = shapes.filter((x) => !SHAPES.includes(x));
  if (unknown.length) usageExit(USAGE, `unknown shape ${JSON.stringify(unknown[0])}: the shapes are ${SHAPES.join(', ')}`);
  const logs = { A: await openBuild(a, shared), B: await openBuild(b, shared) };
  const pools: Record<string, Entry[]> = { ascii: stringPool('ascii'), many: stringPool('ascii'), utf8: stringPool('utf8'), binary: binaryPool(), json: stringPool('json1k') };
  const lines: string[] = [];
  for (const shape of shapes) {
    const loops = { A: loopFor(logs.A, shape, pools[shape]), B: loopFor(logs.B, shape, pools[shape]) };
    const t: Record<'A' | 'B', number[]> = { A: [], B: [] };
    for (const k of ['A', 'B'] as const) for (let w = 0; w < 10; w++) await drained(logs[k]).then(() => loops[k](BATCH));
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of r & 1 ? (['B', 'A'] as const) : (['A', 'B'] as const)) {
        await drained(logs[k]);
        const t0 = process.hrtime.bigint();
        loops[k](BATCH);
        t[k].push(Number(process.hrtime.bigint() - t0) / BATCH);
      }
    }
    const qa = quantiles(t.A);
    const qb = quantiles(t.B);
    lines.push(`${shape.padEnd(7)} A min/p10/p50 ${qa.join(' / ')}  B ${qb.join(' / ')}  B/A min ${(qb[0] / qa[0]).toFixed(2)} p10 ${(qb[1] / qa[1]).toFixed(2)}`);
  }
  await Promise.all([logs.A.close(), logs.B.close()]);
  process.stdout.write(`${process.version} ${shared ? 'shared' : 'exclusive'} producer, load ${os.loadavg()[0].toFixed(2)}\n${lines.join('\n')}\n`);
}

await main();
