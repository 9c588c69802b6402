/**
 * The report of a bench: the Markdown (tables, ratios against each peer, the targets and whether
 * they were met), and the one-screen summary printed at the end. Pure functions of the results.
 */
import type { Machine } from './machine.js';
import { BATCH_REFERENCE, KIB_DD, KIB_REFERENCE, shardlogId, type Settings } from './plan.js';
import type { AllocRow, DurableRow, E2ERow } from './stats.js';
import type { MicroResult } from './types.js';

export interface Report {
  settings: Settings;
  machine: Machine;
  micro?: MicroResult;
  e2e: E2ERow[];
  alloc: AllocRow[];
  durable: DurableRow[];
  /** Runs that crashed or failed verification. */
  failures: string[];
  elapsedS: number;
}

// ---- formatting ----

const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
export function rate(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x >= 999_500) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(0)} k`;
  return x.toFixed(0);
}
const num = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
const ms = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(us < 10_000 ? 2 : 1) : '–');
const times = (x: number): string => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}×` : '–');
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '–');

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}
function table(head: string[], align: string, rows: string[][]): string {
  return [row(head), row(align.split('').map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(row)].join('\n');
}

// ---- lookups ----

function e2e(r: Report, id: string): E2ERow | undefined {
  return r.e2e.find((x) => x.id === id && x.runs > 0);
}
function durable(r: Report, system: DurableRow['system'], offered: number): DurableRow | undefined {
  return r.durable.find((x) => x.system === system && x.offeredPerSec === offered && x.runs > 0);
}

export interface Ratio {
  what: string;
  value: number;
  text: string;
}

/** shardlog against each peer, on the same entries. */
export function ratios(r: Report): Ratio[] {
  const out: Ratio[] = [];
  const none = e2e(r, shardlogId(1, 'none', 'ascii'));
  const batch = e2e(r, BATCH_REFERENCE);
  const peers: [string, string][] = [
    ['thread-stream', 'thread-stream'],
    ['thread-stream-buffers', 'thread-stream fed Buffers'],
    ['sonic-boom', 'sonic-boom (async)'],
    ['fs-stream', 'fs.createWriteStream'],
    ['pino-destination', 'pino + pino.destination'],
    ['pino-transport', 'pino + pino.transport'],
  ];
  if (none) {
    for (const [id, name] of peers) {
      const p = e2e(r, id);
      if (!p) continue;
      const v = none.entriesPerSec / p.entriesPerSec;
      const c = p.cpuNsPerEntry / none.cpuNsPerEntry;
      out.push({ what: `shardlog (sync none) vs ${name}`, value: v, text: `${times(v)} the entries/s, ${times(c)} less main-thread CPU per entry` });
    }
  }
  if (batch) {
    const dd = e2e(r, 'dd');
    if (dd) out.push({ what: "shardlog sync 'batch' vs dd conv=fdatasync", value: batch.mbPerSec / dd.mbPerSec, text: `${pct(batch.mbPerSec / dd.mbPerSec)} of the disk's bytes/s (${num(batch.mbPerSec)} vs ${num(dd.mbPerSec)} MB/s)` });
    const loop = e2e(r, 'fdatasync-loop');
    if (loop) out.push({ what: "shardlog sync 'batch' vs node write+fdatasync per batch", value: batch.mbPerSec / loop.mbPerSec, text: `${pct(batch.mbPerSec / loop.mbPerSec)} (${num(batch.mbPerSec)} vs ${num(loop.mbPerSec)} MB/s at ${int(loop.extra.batchBytes)} B per sync)` });
    const sf = e2e(r, 'sonic-boom-fsync');
    const kib = e2e(r, KIB_REFERENCE);
    const kibDd = e2e(r, KIB_DD);
    if (kib && kibDd) out.push({ what: "shardlog sync 'batch', 1 KiB entries vs dd conv=fdatasync", value: kib.mbPerSec / kibDd.mbPerSec, text: `${pct(kib.mbPerSec / kibDd.mbPerSec)} of the disk's bytes/s (${num(kib.mbPerSec)} vs ${num(kibDd.mbPerSec)} MB/s)` });
    if (sf) out.push({ what: "shardlog sync 'batch' vs sonic-boom fsync: true", value: batch.entriesPerSec / sf.entriesPerSec, text: `${times(batch.entriesPerSec / sf.entriesPerSec)} the entries/s (${rate(batch.entriesPerSec)} vs ${rate(sf.entriesPerSec)})` });
  }
  return out;
}

export interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** The project's targets, against what this run measured (reported, never asserted). */
export function targets(r: Report): Target[] {
  const out: Target[] = [];
  const noneRows = r.e2e.filter((x) => x.system === 'shardlog' && x.id.includes('-none-') && !x.id.endsWith('-lines') && x.runs > 0);
  const best = noneRows.reduce<E2ERow | undefined>((b, x) => (!b || x.entriesPerSec > b.entriesPerSec ? x : b), undefined);
  const one = e2e(r, shardlogId(1, 'none', 'ascii'));
  const oneBin = e2e(r, shardlogId(1, 'none', 'binary'));
  if (best) {
    out.push({
      target: "sync 'none': ≥ 10 M entries/s, 100-byte entries, one producer",
      measured: `${rate(best.entriesPerSec)}/s best (${best.label})${one ? `; 1 shard string ${rate(one.entriesPerSec)}/s` : ''}`,
      met: best.entriesPerSec >= 10e6,
    });
  }
  // the issue's comparison: the best shardlog one-producer run against thread-stream in its best configuration
  const tsb = e2e(r, 'thread-stream-buffers');
  const oneBest = [one, oneBin].filter((x): x is E2ERow => !!x).reduce<E2ERow | undefined>((b, x) => (!b || x.entriesPerSec > b.entriesPerSec ? x : b), undefined);
  if (tsb && oneBest) {
    const v = oneBest.entriesPerSec / tsb.entriesPerSec;
    out.push({ target: "sync 'none': ≥ 2.5× thread-stream fed Buffers, one producer", measured: `${times(v)} (${oneBest.label} ${rate(oneBest.entriesPerSec)}/s vs ${rate(tsb.entriesPerSec)}/s)`, met: v >= 2.5 });
  }
  const writerRows = [one, oneBin].filter((x): x is E2ERow => !!x && Number.isFinite(x.extra.offMainCpuNs));
  if (writerRows.length) {
    out.push({
      target: "writer CPU ≤ 70 ns per record (sync 'none', 1 shard: the CPU of the process's other threads per entry)",
      measured: writerRows.map((x) => `${x.id.endsWith('binary') ? 'binary' : 'string'} ${num(x.extra.offMainCpuNs)} ns`).join(', '),
      met: Math.max(...writerRows.map((x) => x.extra.offMainCpuNs)) <= 70,
    });
  }
  const allocAscii = r.alloc.find((a) => a.shape === 'ascii' && a.runs > 0);
  const allocBin = r.alloc.find((a) => a.shape === 'binary' && a.runs > 0);
  if (one || allocAscii) {
    const cpuVals = [one?.cpuNsPerEntry, oneBin?.cpuNsPerEntry, allocAscii?.cpuNsPerAppend, allocBin?.cpuNsPerAppend].filter((x): x is number => Number.isFinite(x));
    const parts: string[] = [];
    if (one) parts.push(`end-to-end string ${num(one.cpuNsPerEntry)} ns${oneBin ? `, binary ${num(oneBin.cpuNsPerEntry)} ns` : ''}`);
    if (allocAscii) parts.push(`${int(allocAscii.n)} appends: string ${num(allocAscii.cpuNsPerAppend)} ns${allocBin ? `, binary ${num(allocBin.cpuNsPerAppend)} ns` : ''}`);
    out.push({ target: "sync 'none': ≤ 70 ns main-thread CPU per binary or ASCII entry", measured: parts.join('; '), met: cpuVals.length ? Math.max(...cpuVals) <= 70 : undefined });
  }
  const batch = e2e(r, BATCH_REFERENCE);
  const dd = e2e(r, 'dd');
  const batchBin = e2e(r, shardlogId(1, 'batch', 'binary'));
  if (batch && dd) {
    // strings and binary entries both count: the target is met when the slower of the two meets it
    const bin = batchBin ? `; binary ${pct(batchBin.mbPerSec / dd.mbPerSec)} (${num(batchBin.mbPerSec)} MB/s)` : '';
    const worst = Math.min(batch.mbPerSec, batchBin?.mbPerSec ?? Infinity);
    out.push({ target: "sync 'batch', 100-byte entries: ≥ 60% of dd conv=fdatasync bytes/s", measured: `strings ${pct(batch.mbPerSec / dd.mbPerSec)} (${num(batch.mbPerSec)} / ${num(dd.mbPerSec)} MB/s)${bin}`, met: worst / dd.mbPerSec >= 0.6 });
  }
  const kib = e2e(r, KIB_REFERENCE);
  const kibDd = e2e(r, KIB_DD);
  if (kib && kibDd) out.push({ target: "sync 'batch', 1 KiB entries: ≥ 85% of dd conv=fdatasync bytes/s", measured: `${pct(kib.mbPerSec / kibDd.mbPerSec)} (${num(kib.mbPerSec)} / ${num(kibDd.mbPerSec)} MB/s)`, met: kib.mbPerSec / kibDd.mbPerSec >= 0.85 });
  const sf = e2e(r, 'sonic-boom-fsync');
  if (batch && sf) out.push({ target: "sync 'batch': ≥ 15× sonic-boom with fsync: true", measured: `${times(batch.entriesPerSec / sf.entriesPerSec)} (${rate(batch.entriesPerSec)} vs ${rate(sf.entriesPerSec)} entries/s)`, met: batch.entriesPerSec / sf.entriesPerSec >= 15 });
  const d = durable(r, 'shardlog', 200_000);
  if (d) {
    const sb = durable(r, 'sonic-boom', 200_000);
    const ds = durable(r, 'shardlog-sync', 200_000);
    // either documented way of waiting counts: durable() (a promise) or durableSync() (blocking, as flushSync does)
    const best = Math.min(d.p99Us, ds?.p99Us ?? Infinity);
    out.push({
      target: "durable-ack p99 ≤ 2 ms at 200k entries/s offered, and below sonic-boom's flushSync",
      measured:
        `p99 ${ms(d.p99Us)} ms (p50 ${ms(d.p50Us)} ms)` +
        (ds ? `; durableSync per group: p99 ${ms(ds.p99Us)} ms (p50 ${ms(ds.p50Us)} ms)` : '') +
        (sb ? `; sonic-boom flushSync per group: p99 ${ms(sb.p99Us)} ms` : ''),
      met: best <= 2000 && (!sb || best < sb.p99Us),
    });
  }
  if (r.alloc.length) {
    const rows = r.alloc.filter((a) => a.runs > 0);
    out.push({
      target: '0 bytes allocated per append',
      measured: rows
        .map((a) => `${a.shape}: ${num(a.gcs)} GCs (median; most in one run ${num(a.maxGcs)}${a.gcKinds ? `: ${a.gcKinds}` : ''}) in ${int(a.n)} appends, heap ${a.heapGrowthBytes >= 0 ? '+' : ''}${int(a.heapGrowthBytes / 1024)} KiB = ${num(a.bytesPerAppend, 3)} B/append`)
        .join('; '),
      // an allocation per append, even of one small object (>= 12 bytes), would fill the young
      // generation every million appends or so: scavenges in every run and >= 12 B/append of growth
      met: rows.length ? rows.every((a) => a.gcs === 0 && a.bytesPerAppend < 1) : undefined,
    });
  }
  return out;
}

const MET = (m: boolean | undefined): string => (m === undefined ? '?' : m ? 'yes' : 'NO');

function e2eTable(r: Report): string {
  return table(
    ['Run', 'entries/s', 'MB/s (min–max)', 'main-thread CPU ns/entry', 'other threads CPU ns/entry', 'peak RSS MiB', 'GCs', 'heap B/entry', 'run-queue wait ms', 'verified'],
    'lrrrrrrrrl',
    r.e2e.map((x) => [
      x.label + (x.n !== r.settings.n && !['dd', 'fdatasync-loop'].includes(x.system) ? ` (N = ${int(x.n)})` : ''),
      rate(x.entriesPerSec),
      x.runs > 1 ? `${num(x.mbPerSec)} (${num(x.minMbPerSec)}–${num(x.maxMbPerSec)})` : num(x.mbPerSec),
      num(x.cpuNsPerEntry),
      x.extra.offMainCpuNs === undefined || ['dd', 'fdatasync-loop'].includes(x.system) ? '–' : num(x.extra.offMainCpuNs),
      num(x.peakRssMiB),
      num(x.gcs),
      num(x.heapBytesPerEntry, 1),
      num(x.extra.runqWaitMs),
      x.runs === 0 ? 'FAILED' : x.verified ? `yes (${x.runs})` : 'NO',
    ]),
  );
}

function durableTable(r: Report): string {
  return table(
    ['System', 'offered/s', 'achieved/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'fsyncs/s', 'run-queue wait ms/s', 'verified'],
    'lrrrrrrrrl',
    r.durable.map((d) => [
      d.label,
      rate(d.offeredPerSec),
      rate(d.achievedPerSec),
      ms(d.p50Us),
      ms(d.p99Us),
      ms(d.p999Us),
      ms(d.maxUs),
      int(d.fsyncs / r.settings.durableSeconds),
      int(d.runqWaitMs / r.settings.durableSeconds),
      d.runs === 0 ? 'FAILED' : d.verified ? `yes (${d.runs})` : 'NO',
    ]),
  );
}

function allocTable(r: Report): string {
  return table(
    ['Entries', 'appends', 'GCs (max of the runs; kinds over all)', 'heap growth', 'B/append', 'main-thread CPU ns/append', 'appends/s', 'ring-full waits'],
    'lrrrrrrr',
    r.alloc.map((a) => [a.label, int(a.n), `${num(a.maxGcs)}${a.gcKinds ? ` (${a.gcKinds})` : ''}`, `${int(a.heapGrowthBytes / 1024)} KiB`, num(a.bytesPerAppend, 3), num(a.cpuNsPerAppend), rate(a.appendsPerSec), int(a.ringFullWaits)]),
  );
}

function microTable(m: MicroResult): string {
  return table(
    ['Benchmark', 'mean ns', 'p50 ns', 'p99 ns', 'per', 'bytes allocated'],
    'lrrrlr',
    m.rows.map((x) => [x.name, num(x.ns, 1), num(x.p50, 1), num(x.p99, 1), x.unit, num(x.bytesPerUnit, 2)]),
  );
}

export function machineLines(m: Machine): string[] {
  return [
    `- CPU: ${m.cpu}, ${m.cores} cores available, ${m.memoryGiB} GiB memory`,
    `- OS: ${m.os}; Node ${m.node} (V8 ${m.v8})`,
    `- Files written to: ${m.filesystem}`,
    `- Main-thread CPU read from: ${m.cpuTime}`,
    `- Date: ${m.date}; 1-minute load average at the start: ${m.loadAtStart.toFixed(2)}${m.loadAtStart > m.cores / 2 ? ' (other work was running: expect noise)' : ''}`,
  ];
}

/** The whole report as Markdown. */
export function markdown(r: Report, svgName?: string): string {
  const s = r.settings;
  const L: string[] = [];
  L.push(`# shardlog bench (${s.mode})`, '');
  L.push(...machineLines(r.machine), '');
  L.push(
    `Each end-to-end run is a fresh child process writing N = ${int(s.n)} entries of 100 bytes (sonic-boom with fsync: true: ${int(s.fsyncN)}), after two warm-up passes on separate files; ` +
      `the clock stops when every byte is on disk (closed and fdatasynced); the files are then read back and every entry counted and checksummed. ` +
      `Figures are medians of ${s.reps} repetition${s.reps === 1 ? '' : 's'} (the MB/s column shows the spread). MB = 10^6 bytes, of the files (framing included). ` +
      `Heap B/entry: heap growth over the append loop per entry (after any GCs in it, so a lower bound where GCs ran). ` +
      `Run-queue wait: how long the run's threads were ready to run but had no CPU (other work on the machine). Total time ${num(r.elapsedS)} s.`,
    '',
  );
  if (svgName) L.push(`![throughput and latency chart](${svgName})`, '');
  if (r.failures.length) L.push('**Failures:**', '', ...r.failures.map((f) => `- ${f.split('\n')[0]}`), '');
  const t = targets(r);
  if (t.length) {
    L.push('## Targets', '', table(['Target', 'Measured', 'Met'], 'lll', t.map((x) => [x.target, x.measured, MET(x.met)])), '');
  }
  const q = ratios(r);
  if (q.length) L.push('## shardlog against the peers', '', ...q.map((x) => `- ${x.what}: ${x.text}`), '');
  if (r.e2e.length) L.push('## End-to-end', '', e2eTable(r), '');
  if (r.durable.length) {
    L.push(
      '## Durable-ack latency',
      '',
      `Steady offered load for ${s.durableSeconds} s${s.durableWarmupSeconds ? ` after ${s.durableWarmupSeconds} s of warm-up at the same load on the same log (not recorded)` : ''}, one shard, acks per small group of entries (whatever came due since the last look, at most 100 µs apart). ` +
        `Latency runs from each entry's scheduled time to its ack, medians of ${s.durableReps} run${s.durableReps === 1 ? '' : 's'}. ` +
        "shardlog: sync 'batch', `await log.durable(seq)` per group; shardlog-sync: the same log, the main thread blocking in `log.durableSync()` per group, as sonic-boom's does. sonic-boom: one write + `flushSync()` (fsync) per group on the main thread.",
      '',
      durableTable(r),
      '',
    );
  }
  if (r.alloc.length) L.push('## Allocation per append', '', `One shard, sync 'none', 100-byte entries, after two warm-up calls of the same loop (100,000 appends each); GCs seen by PerformanceObserver('gc') during the loop, heap growth over it. Medians of ${s.allocReps}.`, '', allocTable(r), '');
  if (r.micro) {
    L.push(
      '## Micro-benchmarks (mitata)',
      '',
      "One shard, sync 'none', 64 MiB ring, exclusive producer; the ring is kept from filling outside the timed batches. The mean includes the odd batch slowed by the writer thread and the kernel sharing the cores; p50 is the code's own cost.",
      '',
      microTable(r.micro),
      '',
    );
  }
  return L.join('\n');
}

/** The one-screen summary for stdout. */
export function summary(r: Report, files: string[]): string {
  const s = r.settings;
  const L: string[] = [];
  const m = r.machine;
  L.push(`shardlog bench (${s.mode}): ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.filesystem.split(' (')[0]}; N = ${int(s.n)}, ${s.reps} rep${s.reps === 1 ? '' : 's'}, ${num(r.elapsedS)} s`);
  if (r.e2e.length) {
    L.push('', `${'end-to-end (medians)'.padEnd(46)}${'entries/s'.padStart(10)}${'MB/s'.padStart(7)}${'CPU ns/e'.padStart(10)}${'RSS MiB'.padStart(9)}  ok`);
    const pick = r.e2e.filter((x) => x.system !== 'shardlog' || /^shardlog-(1-(none|batch)-(ascii|binary|json1k)|[24]-none-ascii)$/.test(x.id));
    for (const x of pick) {
      L.push(`  ${x.label.slice(0, 44).padEnd(44)}${rate(x.entriesPerSec).padStart(10)}${num(x.mbPerSec).padStart(7)}${num(x.cpuNsPerEntry).padStart(10)}${num(x.peakRssMiB).padStart(9)}  ${x.runs === 0 ? 'FAIL' : x.verified ? 'ok' : 'BAD'}`);
    }
  }
  if (r.durable.length) {
    L.push('', 'durable ack p50 / p99 ms at offered load:');
    for (const sys of ['shardlog', 'shardlog-sync', 'sonic-boom'] as const) {
      const rows = r.durable.filter((d) => d.system === sys);
      if (rows.length) L.push(`  ${sys.padEnd(13)} ${rows.map((d) => `${rate(d.offeredPerSec)}/s ${ms(d.p50Us)} / ${ms(d.p99Us)}`).join('   ')}`);
    }
  }
  if (r.micro) {
    L.push('', `micro p50: ${r.micro.rows.map((x) => `${x.name.replace('append', '').replace(' x ascii 100 B', '').trim()} ${num(x.p50)} ns/${x.unit === 'KiB' ? 'KiB' : 'e'}`).join(', ')}`);
  }
  const q = ratios(r);
  if (q.length) L.push('', 'ratios:', ...q.map((x) => `  ${x.what}: ${x.text}`));
  const t = targets(r);
  if (t.length) L.push('', 'targets:', ...t.map((x) => `  [${MET(x.met).padEnd(3)}] ${x.target}: ${x.measured}`));
  if (r.failures.length) L.push('', `FAILURES (${r.failures.length}):`, ...r.failures.map((f) => `  ${f.split('\n')[0]}`));
  if (files.length) L.push('', `written: ${files.join(', ')}`);
  return L.join('\n');
}
