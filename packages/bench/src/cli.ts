#!/usr/bin/env node
/**
 * `pnpm bench` / `shardlog-bench`: the benchmark harness's command line. Plans the runs (plan.ts),
 * runs each in a fresh child process (runner.ts, child.ts), shows a progress line, takes medians
 * (stats.ts), writes the Markdown report, the SVG chart and the raw JSON to packages/bench/results/,
 * and prints a one-screen summary. Exits 1 if any run crashed or lost an entry.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine } from './machine.js';
import { BATCH_REFERENCE, e2eCases, PARTS, settingsFor, type E2ECase, type Part, type Settings } from './plan.js';
import { Progress } from './progress.js';
import { markdown, summary, type Report } from './report.js';
import { runInChild } from './runner.js';
import { aggregateAlloc, aggregateDurable, aggregateE2E, type AllocRow, type DurableRow, type E2ERow } from './stats.js';
import { chart } from './svg.js';
import { inlineNegativeValues } from './tool-args.js';
import type { AllocResult, DurableResult, E2EResult, E2ESpec, MicroResult, Spec } from './types.js';

const HELP = `Usage: pnpm bench [-- options]      (or: node packages/bench/dist/cli.js [options])

shardlog's benchmark harness: mitata micro-benchmarks of the append path, end-to-end runs against
pino, sonic-boom, thread-stream, fs.createWriteStream and the disk's own limit (dd, fdatasync loop),
durable-ack latency under a steady load, and allocation per append. Every measured run is a fresh
child process; every end-to-end run is verified (count and checksum of every entry).

Modes:
  (default)        quick: small N, one repetition, about a minute (what CI runs)
  --full           everything with repetitions, medians reported (several minutes)

Options:
  --reps N         repetitions of each end-to-end case (quick 1, full 5)
  --n N            entries per end-to-end run (quick 200000, full 2000000)
  --only LIST      comma-separated parts to run: ${PARTS.join(',')}
  --cases REGEX    only the end-to-end cases whose id matches (ids: shardlog-1-none-ascii,
                   shardlog-4-batch-binary, shardlog-1-batch-json1k, dd, dd-json1k, fdatasync-loop, sonic-boom, sonic-boom-fsync,
                   pino-destination, pino-transport, thread-stream, thread-stream-buffers, fs-stream, ...)
  --dir DIR        where runs write their files (default: the OS temp dir); use the disk you care about
  --out DIR        where results go (default: packages/bench/results)
  --profile        run shardlog's end-to-end children under --cpu-prof (main and writer threads each
                   get a .cpuprofile in OUT/profiles/<case>-rep<k>/); summarize them with
                   node packages/bench/dist/profile-summary.js OUT/profiles/<case>-rep1/*
  --keep           keep the files the runs wrote (default: removed after each run)
  --render FILE    run nothing: rewrite the Markdown and SVG from a saved results .json
  -h, --help       this help

Output: OUT/bench-<time>.md (tables, ratios, targets), .svg (chart), .json (every run), and
OUT/latest.{md,svg,json}; a summary on stdout, progress on stderr.`;

const PKG_ROOT = path.resolve(import.meta.dirname, '..');

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} takes a positive integer, got '${v}'`);
  return n;
}

class UsageError extends Error {}

export interface CliOptions {
  settings: Settings;
  /** Only the end-to-end cases whose id matches. */
  cases?: RegExp;
  /** Re-render this saved report instead of running. */
  render?: string;
  dir: string;
  out: string;
  profile: boolean;
  keep: boolean;
}

const CLI_OPTIONS = {
  full: { type: 'boolean' },
  quick: { type: 'boolean' },
  reps: { type: 'string' },
  n: { type: 'string' },
  only: { type: 'string' },
  cases: { type: 'string' },
  dir: { type: 'string' },
  out: { type: 'string' },
  profile: { type: 'boolean' },
  keep: { type: 'boolean' },
  render: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseCli(argv: string[]): CliOptions | 'help' {
  const { values } = parseArgs({ args: inlineNegativeValues(argv, CLI_OPTIONS), options: CLI_OPTIONS, allowPositionals: false });
  if (values.help) return 'help';
  const settings = settingsFor(values.full ? 'full' : 'quick');
  const reps = positiveInt('reps', values.reps);
  if (reps !== undefined) settings.reps = reps;
  const n = positiveInt('n', values.n);
  if (n !== undefined) {
    settings.fsyncN = Math.max(1, Math.round((settings.fsyncN * n) / settings.n));
    settings.n = n;
  }
  if (values.only !== undefined) {
    const parts = values.only.split(',').map((p) => p.trim()).filter(Boolean);
    for (const p of parts) if (!PARTS.includes(p as Part)) throw new UsageError(`--only: unknown part '${p}' (parts: ${PARTS.join(', ')})`);
    settings.parts = parts as Part[];
  }
  let cases: RegExp | undefined;
  if (values.cases !== undefined) {
    try {
      cases = new RegExp(values.cases);
    } catch {
      throw new UsageError(`--cases: not a regular expression: '${values.cases}'`);
    }
  }
  return {
    settings,
    cases,
    render: values.render === undefined ? undefined : path.resolve(values.render),
    dir: path.resolve(values.dir ?? os.tmpdir()),
    out: path.resolve(values.out ?? path.join(PKG_ROOT, 'results')),
    profile: !!values.profile,
    keep: !!values.keep,
  };
}

/** Runs the whole bench and returns the report (also used by the tests with tiny settings). */
export async function runBench(o: CliOptions, progress?: Progress): Promise<Report> {
  const s = o.settings;
  const t0 = Date.now();
  const load0 = os.loadavg()[0];
  fs.mkdirSync(o.dir, { recursive: true });
  const scratch = fs.mkdtempSync(path.join(o.dir, 'shardlog-bench-'));
  const has = (p: Part) => s.parts.includes(p);
  const cases = has('e2e') ? e2eCases(s).filter((c) => !o.cases || o.cases.test(c.id)) : [];
  const total = (has('micro') ? 1 : 0) + cases.length * s.reps + (has('alloc') ? 2 * s.allocReps : 0) + (has('durable') ? s.durableRates.length * 2 * s.durableReps : 0);
  const prog = progress ?? new Progress(total);
  const failures: string[] = [];
  let seq = 0;
  const where = (id: string) => {
    const k = seq++;
    return { dir: path.join(scratch, `${String(k).padStart(3, '0')}-${id}`), resultFile: path.join(scratch, `${String(k).padStart(3, '0')}-${id}.json`) };
  };
  async function attempt<R>(label: string, spec: Spec, nodeArgs: string[] = []): Promise<R | undefined> {
    prog.start(label);
    try {
      // a hung run (an ack that never comes) must not stall CI: 2 minutes per quick run, 10 per full one
      return await runInChild<R & import('./types.js').Result>(spec, { nodeArgs, keepFiles: o.keep, timeoutMs: s.mode === 'full' ? 600_000 : 120_000 });
    } catch (e) {
      const msg = (e as Error).message;
      failures.push(msg);
      prog.note(`FAILED: ${msg.split('\n').slice(0, 6).join('\n  ')}`);
      return undefined;
    }
  }

  try {
    // 1. micro-benchmarks
    let micro: MicroResult | undefined;
    if (has('micro')) {
      micro = await attempt<MicroResult>('micro-benchmarks (mitata)', { kind: 'micro', id: 'micro', label: 'micro', minCpuMs: s.microMinCpuMs, ...where('micro') });
    }

    // 2. end-to-end, repetitions interleaved so slow drift of the machine spreads over every case
    const e2eResults = new Map<string, E2EResult[]>();
    const e2eFailures = new Map<string, string[]>();
    const profDir = path.join(o.out, 'profiles');
    for (let rep = 0; rep < s.reps; rep++) {
      const thisRep = new Map<string, E2EResult>();
      for (const c of cases) {
        const spec: E2ESpec = { kind: 'e2e', ...c, ...where(c.id) };
        if (c.system === 'dd' || c.system === 'fdatasync-loop') {
          const ref = thisRep.get(c.reference ?? BATCH_REFERENCE);
          spec.bytes = ref?.fileBytes ?? s.n * 120;
          spec.batchBytes = (ref?.extra.meanBatchBytes as number | undefined) ?? 1 << 20;
        }
        // one directory per run: the main thread and every writer thread each write a profile there
        const runProfDir = path.join(profDir, `${c.id}-rep${rep + 1}`);
        const nodeArgs = o.profile && c.system === 'shardlog' ? ['--cpu-prof', `--cpu-prof-dir=${runProfDir}`] : [];
        if (nodeArgs.length) fs.mkdirSync(runProfDir, { recursive: true });
        const r = await attempt<E2EResult>(`${c.label}${s.reps > 1 ? ` (rep ${rep + 1}/${s.reps})` : ''}`, spec, nodeArgs);
        if (r) {
          thisRep.set(c.id, r);
          e2eResults.set(c.id, [...(e2eResults.get(c.id) ?? []), r]);
          if (!r.verification.ok) prog.note(`VERIFICATION FAILED: ${c.label}: ${r.verification.problem}`);
        } else e2eFailures.set(c.id, [...(e2eFailures.get(c.id) ?? []), failures[failures.length - 1]]);
      }
    }
    const e2e: E2ERow[] = cases.map((c: E2ECase) => aggregateE2E(c.id, c.label, c.system, e2eResults.get(c.id) ?? [], e2eFailures.get(c.id) ?? []));
    for (const row of e2e) for (const p of row.problems) if (!failures.includes(p)) failures.push(`${row.label}: ${p}`);

    // 3. allocation per append at volume
    const alloc: AllocRow[] = [];
    if (has('alloc')) {
      for (const shape of ['ascii', 'binary'] as const) {
        const label = shape === 'ascii' ? '100-byte strings' : '100-byte Uint8Arrays';
        const rs: AllocResult[] = [];
        const fs0 = failures.length;
        for (let rep = 0; rep < s.allocReps; rep++) {
          const r = await attempt<AllocResult>(`allocation: ${s.allocN.toLocaleString('en-US')} appends of ${label}${s.allocReps > 1 ? ` (rep ${rep + 1}/${s.allocReps})` : ''}`, { kind: 'alloc', id: `alloc-${shape}`, label, shape, n: s.allocN, ...where(`alloc-${shape}`) });
          if (r) rs.push(r);
        }
        const row = aggregateAlloc(`alloc-${shape}`, label, shape, s.allocN, rs, failures.slice(fs0));
        for (const p of row.problems) if (!failures.includes(p)) failures.push(`allocation ${label}: ${p}`);
        alloc.push(row);
      }
    }

    // 4. durable-ack latency
    const durable: DurableRow[] = [];
    if (has('durable')) {
      const res = new Map<string, DurableResult[]>();
      const fails = new Map<string, string[]>();
      const systems = [
        ['shardlog', "shardlog (sync 'batch')"],
        ['shardlog-sync', "shardlog (sync 'batch', durableSync per group)"],
        ['sonic-boom', 'sonic-boom (flushSync per group)'],
      ] as const;
      for (let rep = 0; rep < s.durableReps; rep++) {
        for (const rate of s.durableRates) {
          for (const [system, label] of systems) {
            const id = `durable-${system}-${rate}`;
            const r = await attempt<DurableResult>(`durable ack: ${label} at ${rate.toLocaleString('en-US')} entries/s${s.durableReps > 1 ? ` (rep ${rep + 1}/${s.durableReps})` : ''}`, {
              kind: 'durable',
              id,
              label,
              system,
              rate,
              seconds: s.durableSeconds,
              warmupSeconds: s.durableWarmupSeconds,
              ...where(id),
            });
            if (r) res.set(id, [...(res.get(id) ?? []), r]);
            else fails.set(id, [...(fails.get(id) ?? []), failures[failures.length - 1]]);
          }
        }
      }
      for (const [system, label] of systems) {
        for (const rate of s.durableRates) {
          const id = `durable-${system}-${rate}`;
          const row = aggregateDurable(id, label, system, rate, res.get(id) ?? [], fails.get(id) ?? []);
          for (const p of row.problems) if (!failures.includes(p)) failures.push(`${label} at ${rate}/s: ${p}`);
          durable.push(row);
        }
      }
    }

    prog.finish();
    return { settings: s, machine: describeMachine(o.dir, load0), micro, e2e, alloc, durable, failures, elapsedS: (Date.now() - t0) / 1000 };
  } finally {
    if (!o.keep) fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Writes the report's files; returns their paths. */
export function writeResults(report: Report, out: string): string[] {
  fs.mkdirSync(out, { recursive: true });
  const stamp = report.machine.date.replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  const base = `bench-${report.settings.mode}-${stamp}`;
  const svg = chart(report);
  const files: string[] = [];
  for (const name of [base, 'latest']) {
    const md = path.join(out, `${name}.md`);
    fs.writeFileSync(md, markdown(report, `${name}.svg`) + '\n');
    fs.writeFileSync(path.join(out, `${name}.svg`), svg);
    fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(report, null, 1) + '\n');
    if (name === base) files.push(md, path.join(out, `${name}.svg`), path.join(out, `${name}.json`));
  }
  return files;
}

/** The saved report of --render; a UsageError when the file cannot be read or is not one. */
export function loadReport(file: string): Report {
  let r: Report;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as Report;
  } catch (e) {
    throw new UsageError(`--render: ${e instanceof SyntaxError ? `${file} is not JSON (${e.message.replace(/\s+/g, ' ')})` : `cannot read ${file}: ${(e as Error).message}`}`);
  }
  const isReport = r !== null && typeof r === 'object' && typeof r.settings === 'object' && typeof r.machine === 'object' && [r.e2e, r.alloc, r.durable, r.failures].every(Array.isArray);
  if (!isReport) throw new UsageError(`--render: ${file} is not a saved bench report (a results .json: settings, machine, e2e, alloc, durable, failures)`);
  return r;
}

export async function main(argv: string[]): Promise<number> {
  let o: CliOptions | 'help';
  try {
    o = parseCli(argv);
  } catch (e) {
    process.stderr.write(`shardlog-bench: ${(e as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  let report: Report;
  if (o.render) {
    try {
      report = loadReport(o.render);
    } catch (e) {
      process.stderr.write(`shardlog-bench: ${(e as Error).message}\n`); // the file is the problem, not the options
      return 2;
    }
  } else report = await runBench(o);
  const files = writeResults(report, o.out);
  process.stdout.write(summary(report, files.map((f) => path.relative(process.cwd(), f))) + '\n');
  return report.failures.length ? 1 : 0;
}

// Run when executed (not when imported by a test).
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  process.exitCode = await main(process.argv.slice(2));
}
