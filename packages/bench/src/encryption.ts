#!/usr/bin/env node
/**
 * `node packages/bench/dist/encryption.js [--n N] [--reps R]`: what encryption at rest costs.
 * For 100-byte and 1 KiB entries, with sync 'none' and 'batch', one shard: appends N entries to a
 * plain log and to an encrypted one (fresh directory each run, a fresh process is not needed: the
 * writer is a thread), and reports entries/s and the CPU the process spent outside its main thread
 * (the writer thread, libuv's pool for the fdatasyncs) per record. Medians of R runs. Every run is
 * read back and counted. Prints a Markdown table.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openLog, readLogSync, type EncryptionOptions } from '@shardlog/core';
import { mainThreadCpuNs } from './cpu.js';
import { numberArg, toolArgs } from './tool-args.js';

interface Run {
  perSec: number;
  offMainNsPerRecord: number;
}

const processCpuNs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

async function once(n: number, size: number, sync: 'none' | 'batch', encryption: EncryptionOptions | undefined): Promise<Run> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shardlog-bench-enc-'));
  const dir = path.join(root, 'log');
  try {
    const log = await openLog({ dir, shards: 1, sync, encryption, flushOnExit: false });
    const entry = Buffer.alloc(size, 0x61);
    const t0 = process.hrtime.bigint();
    const p0 = processCpuNs();
    const m0 = mainThreadCpuNs();
    let last = 0;
    for (let i = 0; i < n; i++) last = log.append(entry);
    await log.durable(last);
    const wall = Number(process.hrtime.bigint() - t0);
    const offMain = processCpuNs() - p0 - (mainThreadCpuNs() - m0);
    await log.close();
    let count = 0;
    for (const _ of readLogSync({ dir, encryption: encryption && { keys: encryption.keys } })) count++;
    if (count !== n) throw new Error(`read back ${count} entries, wrote ${n}`);
    return { perSec: (n / wall) * 1e9, offMainNsPerRecord: offMain / n };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const USAGE = `Usage: node packages/bench/dist/encryption.js [--n N] [--reps R]

What encryption at rest costs: entries/s and off-main-thread CPU per record, plain against
encrypted, for 100-byte and 1 KiB entries with sync 'none' and 'batch'. Prints a Markdown table.

Options:
  --n N        entries per run (default 500000)
  --reps R     runs of each case; the median is reported (default 3)
  -h, --help   this help
`;

async function main(): Promise<void> {
  const values = toolArgs(USAGE, { n: { type: 'string' }, reps: { type: 'string' } });
  const n = numberArg(USAGE, values, 'n', 500_000, { integer: true });
  const reps = numberArg(USAGE, values, 'reps', 3, { integer: true });
  const key = Uint8Array.from(randomBytes(32));
  const rows: string[] = ['| entry | sync | plain entries/s | encrypted entries/s | encrypted / plain | off-main CPU ns/record, plain | encrypted | added |', '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const size of [100, 1024]) {
    for (const sync of ['none', 'batch'] as const) {
      const plain: Run[] = [];
      const enc: Run[] = [];
      for (let r = 0; r < reps; r++) {
        plain.push(await once(n, size, sync, undefined));
        enc.push(await once(n, size, sync, { keys: { k: Uint8Array.from(key) }, keyId: 'k' }));
      }
      const pp = median(plain.map((x) => x.perSec));
      const ep = median(enc.map((x) => x.perSec));
      const pc = median(plain.map((x) => x.offMainNsPerRecord));
      const ec = median(enc.map((x) => x.offMainNsPerRecord));
      rows.push(`| ${size} B | ${sync} | ${Math.round(pp).toLocaleString('en')} | ${Math.round(ep).toLocaleString('en')} | ${((ep / pp) * 100).toFixed(0)}% | ${pc.toFixed(0)} | ${ec.toFixed(0)} | ${(ec - pc).toFixed(0)} |`);
      process.stderr.write(rows.at(-1) + '\n');
    }
  }
  process.stdout.write(`${n.toLocaleString('en')} entries per run, 1 shard, median of ${reps}; ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}\n\n${rows.join('\n')}\n`);
}

await main();
