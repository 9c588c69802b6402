#!/usr/bin/env node
/**
 * `node packages/bench/dist/profile-summary.js FILE.cpuprofile...`: the top functions by self time
 * of V8 CPU profiles (what `pnpm bench --profile` writes for shardlog's runs: one file per thread,
 * the main thread's and each writer thread's). Prints one table per file, so "what limits it"
 * can be read without opening DevTools.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { numberArg, toolArgsWithPositionals, usageExit } from './tool-args.js';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface Hot {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

/** Self time per function (summed over call sites), largest first; idle and GC included as V8 names them. */
export function hotFunctions(p: Profile): { totalMs: number; busyMs: number; rows: Hot[] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) self.set(samples[i], (self.get(samples[i]) ?? 0) + (deltas[i] ?? 0) / 1000);
  const agg = new Map<string, Hot>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    total += ms;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)') idle += name === '(idle)' ? ms : 0;
    const where = n.callFrame.url ? `${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const h = agg.get(key) ?? { name, where, selfMs: 0, share: 0 };
    h.selfMs += ms;
    agg.set(key, h);
  }
  const busy = total - idle;
  const rows = [...agg.values()].filter((h) => h.name !== '(idle)').sort((a, b) => b.selfMs - a.selfMs);
  for (const r of rows) r.share = busy > 0 ? r.selfMs / busy : 0;
  return { totalMs: total, busyMs: busy, rows };
}

const USAGE = `Usage: node packages/bench/dist/profile-summary.js FILE.cpuprofile... [--top N]

The top functions by self time of V8 CPU profiles (pnpm bench --profile writes them), one table per file.

Options:
  --top N      functions per file (default 15)
  -h, --help   this help
`;

/** A .cpuprofile file, read and checked; a usage error (exit 2) when it is not one. */
function readProfile(f: string): Profile {
  let p: Profile;
  try {
    p = JSON.parse(fs.readFileSync(f, 'utf8')) as Profile;
  } catch (e) {
    usageExit(USAGE, `${f}: ${e instanceof SyntaxError ? `not JSON (${e.message.replace(/\s+/g, ' ')})` : (e as Error).message}`);
  }
  if (!Array.isArray(p?.nodes)) usageExit(USAGE, `${f}: not a V8 CPU profile (it has no "nodes")`);
  return p;
}

function main(): number {
  const { values, positionals: files } = toolArgsWithPositionals(USAGE, { top: { type: 'string' } });
  const top = numberArg(USAGE, values, 'top', 15, { integer: true });
  if (files.length === 0) usageExit(USAGE, 'no FILE.cpuprofile given');
  for (const f of files) {
    const p = readProfile(f);
    const { totalMs, busyMs, rows } = hotFunctions(p);
    process.stdout.write(`\n${path.basename(f)}: ${totalMs.toFixed(0)} ms sampled, ${busyMs.toFixed(0)} ms not idle\n`);
    for (const r of rows.slice(0, top)) {
      process.stdout.write(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(1).padStart(8)} ms  ${r.name}${r.where ? `  (${r.where})` : ''}\n`);
    }
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  process.exitCode = main();
}
