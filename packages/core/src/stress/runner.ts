/**
 * The stress runner: many producers, faults, and proof that nothing was lost.
 *
 * It lives in @shardlog/core (not @shardlog/bench, where the design first put it) because it ships
 * with the `shardlog` command, whose binary is core's, and core cannot depend on bench without a
 * dependency cycle (bench depends on core).
 *
 * Modes (one per run):
 *   clean        load, close, verify that every appended entry is there exactly once, byte for byte
 *   kill         a forked writer child loads and is SIGKILLed at a (seeded) random moment; the runner
 *                reopens (recovery) and verifies every entry the child reported acknowledged;
 *                --tear then damages a last segment before the reopen (see tear.ts); --cycles repeats
 *   full-disk    a small tmpfs / loop filesystem, nearly filled: the log must fail loudly (ShardFailedError,
 *                cause ENOSPC; durable() rejects), then recover once the filler is deleted
 *   writer-exit  every shard writer thread exits after N batches: the log must fail loudly, not hang,
 *                and recover on reopen
 * Every mode ends with verify.ts over the whole log.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HEADER_BYTES, maxFrameBytes } from '@shardlog/workers';
import { openLog } from '../log.js';
import { resolveOptions } from '../options.js';
import { Collector, describeError, type Phase } from './collector.js';
import { errorInfo, type ErrorInfo, type LoadMessage, type RecoverySummary } from './messages.js';
import { DEFAULTS, formatSize, formatSync, resolveSize, type SizeDist, type StressOptions } from './options.js';
import { checkProducerId, Payloads, STRESS_HEADER_BYTES } from './payload.js';
import { Rng } from './prng.js';
import type { Progress } from './progress.js';
import { runSession, summarizeRecovery, type SessionConfig } from './session.js';
import { fillDisk, mountSmallFs } from './small-fs.js';
import { tearLog, type TearReport } from './tear.js';
import { verifyLog, type VerifyResult } from './verify.js';

export type StressMode = 'clean' | 'kill' | 'full-disk' | 'writer-exit';

export interface KillCycle {
  cycle: number;
  /** ms after the child's load started. */
  killAfterMs: number;
  killed: boolean;
  /** Entries the child had reported acknowledged when it was killed (this cycle's producers). */
  acknowledgedAtKill: number;
  tear?: TearReport;
  /** What recovery did on reopen. */
  recovery?: RecoverySummary[];
  /** openLog refused the log (expected only after --tear synced). */
  openError?: ErrorInfo;
}

export interface StressReport {
  ok: boolean;
  mode: StressMode;
  /** Set when the mode could not run here (full-disk without mount rights); ok stays true. */
  skipped?: string;
  seed: number;
  /** A command line that replays this run's entries and fault choices (timing differs). */
  replay: string;
  config: {
    shards: number;
    producers: number;
    size: string;
    kind: string;
    sync: string;
    rate: number | 'unbounded';
    api: string;
    durationMs?: number;
    entries?: number;
    ringBytes?: number;
    segmentBytes?: number;
    maxEntryBytes: number;
  };
  dir: string;
  kept: boolean;
  throughput: ReturnType<Collector['throughput']>;
  /** Durable-ack latency: from the durable() call right after a burst of appends to its resolution. */
  latency: ReturnType<Collector['latency']>;
  verification?: VerifyResult;
  faults?: {
    kill?: KillCycle[];
    fullDisk?: { filesystem: 'tmpfs' | 'loop'; bytes: number; fillerBytes: number };
    writerExitAfterBatches?: number;
    /** The failure the log reported, and how the producers saw it. */
    failure?: ErrorInfo;
    appendErrors?: number;
    durableProbesRejected?: number;
    closeError?: ErrorInfo;
    /** What recovery did when the log was reopened after the failure. */
    recovery?: RecoverySummary[];
    /** Entries appended after the reopen, to show the log works again. */
    afterRecovery?: { entries: number };
  };
  /** Things worth knowing that are not failures (the load stopped early for lack of disk space). */
  notes: string[];
  /** Why ok is false, in words (empty when ok). */
  failures: string[];
}

export interface RunIO {
  progress?: Progress;
  /** Aborting ends the load early (the run still closes / recovers and verifies). */
  signal?: AbortSignal;
}

const STATS_MS = 250;
const FULL_DISK_HEADROOM = 4 * 1024 * 1024;
/** A long unbounded run stops its load (and still verifies) before it fills the disk it was pointed at. */
const MIN_FREE_BYTES = 1024 * 1024 * 1024;

export function modeOf(o: StressOptions): StressMode {
  if (o.killAt !== undefined || o.tear !== undefined) return 'kill';
  if (o.fullDisk) return 'full-disk';
  if (o.writerExit !== undefined) return 'writer-exit';
  return 'clean';
}

export function replayCommand(o: StressOptions): string {
  const a = ['shardlog stress', `--seed ${o.seed}`, `--shards ${o.shards}`, `--producers ${o.producers}`, `--size ${formatSize(o.size)}`, `--kind ${o.kind}`, `--sync ${formatSync(o.sync)}`];
  a.push(`--rate ${o.rate || 'unbounded'}`, `--api ${o.api}`);
  if (o.ackMs) a.push(`--ack-ms ${o.ackMs}`);
  if (o.entries !== undefined) a.push(`--entries ${o.entries}`);
  if (o.durationMs !== undefined) a.push(`--duration ${o.durationMs}ms`);
  if (o.ringBytes !== undefined) a.push(`--ring ${o.ringBytes}`);
  if (o.segmentBytes !== undefined) a.push(`--segment-bytes ${o.segmentBytes}`);
  if (o.killAt !== undefined) a.push(`--kill-at ${o.killAt === 'random' ? 'random' : `${o.killAt}ms`}`);
  if (o.tear) a.push(`--tear ${o.tear}`);
  if (o.cycles > 1) a.push(`--cycles ${o.cycles}`);
  if (o.fullDisk) a.push(`--full-disk --disk-size ${o.diskBytes}`);
  if (o.writerExit !== undefined) a.push(`--writer-exit ${o.writerExit}`);
  if (o.dir) a.push(`--dir ${JSON.stringify(o.dir)}`);
  return a.join(' ');
}

function meanSize(s: SizeDist): number {
  if (s.kind === 'fixed') return s.bytes;
  if (s.kind === 'uniform') return (s.min + s.max) / 2;
  return Math.min(s.max!, s.min * 6); // Pareto 1.2: mean min*alpha/(alpha-1), truncated
}

export async function runStress(opts: Partial<StressOptions>, io: RunIO = {}): Promise<StressReport> {
  const o: StressOptions = { ...DEFAULTS, ...opts };
  const mode = modeOf(o);
  if (o.durationMs === undefined && o.entries === undefined && mode !== 'full-disk' && mode !== 'writer-exit') o.durationMs = 5000;
  const ringBytes = resolveOptions({ dir: '.', ringBytes: o.ringBytes }).ringBytes;
  const maxEntryBytes = maxFrameBytes(ringBytes) - HEADER_BYTES;
  const size = resolveSize(o.size, STRESS_HEADER_BYTES, maxEntryBytes);
  checkProducerId(o.cycles * (o.producers + 1) + o.producers + 1);
  const gen = new Payloads({ seed: o.seed, kind: o.kind, size });
  const rng = new Rng(o.seed ^ 0xfa17);
  const coll = new Collector();
  const progress = io.progress;
  const failures: string[] = [];
  const notes: string[] = [];
  coll.listener = (m, c) => {
    if (m.type === 'stats' && progress) progress.sample(m.t, m.stats, c.ackedTotal());
    if (m.type === 'note') {
      notes.push(m.text);
      progress?.note(m.text);
    }
    if (m.type === 'ready' && m.maxEntryBytes !== maxEntryBytes) failures.push(`the log allows entries of ${m.maxEntryBytes} bytes, the runner computed ${maxEntryBytes}`);
  };
  const stop = new Int32Array(new SharedArrayBuffer(4));
  io.signal?.addEventListener('abort', () => Atomics.store(stop, 0, 1), { once: true });

  const report: StressReport = {
    ok: false,
    mode,
    seed: o.seed,
    replay: replayCommand(o),
    config: {
      shards: o.shards,
      producers: o.producers,
      size: formatSize(size),
      kind: o.kind,
      sync: formatSync(o.sync),
      rate: o.rate || 'unbounded',
      api: o.api,
      durationMs: o.durationMs,
      entries: o.entries,
      ringBytes: o.ringBytes,
      segmentBytes: o.segmentBytes,
      maxEntryBytes,
    },
    dir: '',
    kept: false,
    throughput: coll.throughput(),
    latency: coll.latency(),
    notes,
    failures,
  };
  const ids = (first: number) => Array.from({ length: o.producers + 1 }, (_, i) => first + i);
  const session = (dir: string, firstId: number, extra: Partial<SessionConfig> = {}): SessionConfig => ({
    dir,
    shards: o.shards,
    sync: o.sync,
    ringBytes: o.ringBytes,
    segmentBytes: o.segmentBytes,
    producers: o.producers,
    firstId,
    seed: o.seed,
    kind: o.kind,
    size,
    api: o.api,
    rate: o.rate,
    durationMs: o.durationMs,
    entries: o.entries,
    ackMs: o.ackMs,
    hangMs: o.hangMs,
    statsMs: STATS_MS,
    minFreeBytes: mode === 'full-disk' ? 0 : MIN_FREE_BYTES,
    ...extra,
  });
  const startPhase = (name: string, first: number): Phase => {
    progress?.startPhase(name);
    return coll.phase(name, ids(first));
  };
  const reopen = async (dir: string): Promise<{ recovery?: RecoverySummary[]; error?: ErrorInfo }> => {
    try {
      const log = await openLog({ dir, ringBytes: o.ringBytes, segmentBytes: o.segmentBytes });
      const recovery = summarizeRecovery(log);
      await log.close();
      const cut = recovery.filter((r) => r.bytesCut > 0 || r.removedFiles > 0);
      progress?.note(`recovery: ${cut.length ? cut.map((r) => `shard ${r.shard} cut ${r.bytesCut} bytes (${r.cutReason ?? 'short segment removed'})`).join('; ') : 'nothing to cut'}`);
      return { recovery };
    } catch (e) {
      const error = errorInfo(e);
      progress?.note(`recovery refused the log: ${describeError(error)}`);
      return { error };
    }
  };
  const verify = (dir: string): VerifyResult => {
    progress?.note('verifying: re-reading the whole log');
    const v = verifyLog(dir, gen, coll.expectations());
    report.verification = v;
    if (!v.ok) {
      failures.push(
        `verification failed: ${v.lost} lost, ${v.duplicates} duplicated, ${v.outOfOrder} out of order, ${v.corrupt} corrupt, ${v.phantom} never appended, ` +
          `${v.hashMismatches} hash mismatches, ${v.seqErrors} seq errors${v.readError ? `; ${describeError(v.readError)}` : ''}`,
      );
    }
    return v;
  };

  if (mode === 'full-disk') {
    await runFullDisk();
  } else {
    const parent = path.resolve(o.dir ?? os.tmpdir());
    fs.mkdirSync(parent, { recursive: true });
    const dir = fs.mkdtempSync(path.join(parent, 'shardlog-stress-'));
    report.dir = dir;
    try {
      if (mode === 'clean') await runClean(dir);
      else if (mode === 'kill') await runKill(dir);
      else await runWriterExit(dir);
    } finally {
      finish();
      // keep the evidence of a failed run; remove a passing one unless asked to keep it
      report.kept = o.keep || !report.ok;
      if (!report.kept) fs.rmSync(dir, { recursive: true, force: true });
    }
    return report;
  }
  finish();
  return report;

  function finish(): void {
    progress?.closeLine();
    report.throughput = coll.throughput();
    report.latency = coll.latency();
    report.ok = failures.length === 0;
  }

  async function runClean(dir: string): Promise<void> {
    const ph = startPhase('', 0);
    await runSession(session(dir, 0), coll.on, stop);
    const end = ph.end!;
    if (end.failure) failures.push(`the log failed during the run: ${describeError(end.failure)}`);
    if (end.closeError && !end.failure) failures.push(`close() failed: ${describeError(end.closeError)}`);
    failures.push(...end.workerErrors, ...coll.problemsOf(ph));
    for (const id of ph.producers) {
      const d = coll.done.get(id);
      if (d?.appendError && !end.failure) failures.push(`producer ${id}: append failed: ${describeError(d.appendError)}`);
    }
    verify(dir);
  }

  async function runKill(dir: string): Promise<void> {
    const cycles: KillCycle[] = [];
    report.faults = { kill: cycles };
    for (let c = 0; c < o.cycles && Atomics.load(stop, 0) === 0; c++) {
      const first = c * (o.producers + 1);
      const ph = startPhase(o.cycles > 1 ? `[${c + 1}/${o.cycles}]` : '', first);
      const child = fork(new URL('./child.js', import.meta.url), [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
        execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')), // a debugger port cannot be shared
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
      let childError: string | undefined;
      let readyResolve: () => void = () => {};
      const ready = new Promise<void>((r) => (readyResolve = r));
      child.on('message', (m: LoadMessage | { type: 'child-error'; message: string }) => {
        if (m.type === 'child-error') childError = m.message;
        else {
          coll.on(m);
          if (m.type === 'ready') readyResolve();
        }
      });
      child.send(session(dir, first));
      const first1 = await Promise.race([ready.then(() => 'ready' as const), exited.then(() => 'exited' as const)]);
      if (first1 !== 'ready') {
        failures.push(`writer child exited before it started its load${childError ? `: ${childError}` : ''}`);
        break;
      }
      const dur = o.durationMs ?? 5000;
      const delay = o.killAt === 'random' || o.killAt === undefined ? rng.int(Math.round(dur * 0.1), Math.round(dur * 0.9)) : o.killAt;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => child.kill('SIGKILL');
      io.signal?.addEventListener('abort', onAbort, { once: true });
      const outcome = await Promise.race([exited.then(() => 'exited' as const), new Promise<'kill'>((r) => (timer = setTimeout(() => r('kill'), delay)))]);
      clearTimeout(timer);
      if (outcome === 'kill') child.kill('SIGKILL');
      const ex = await exited;
      io.signal?.removeEventListener('abort', onAbort);
      const killed = ex.signal === 'SIGKILL';
      const acknowledgedAtKill = ph.producers.reduce((a, id) => a + (coll.acks.get(id)?.count ?? 0), 0);
      const cyc: KillCycle = { cycle: c + 1, killAfterMs: delay, killed, acknowledgedAtKill };
      cycles.push(cyc);
      progress?.note(
        killed
          ? `SIGKILL to writer child ${ph.ready?.pid} after ${delay} ms: ${acknowledgedAtKill} entries had been acknowledged to the runner`
          : `writer child ended (${ex.signal ?? `code ${ex.code}`}) before the kill moment${childError ? `: ${childError}` : ''}`,
      );
      if (!killed) {
        failures.push(`cycle ${c + 1}: the writer child ${childError ? `failed: ${childError}` : `finished before the kill moment (${delay} ms); nothing was killed`}`);
        break;
      }
      if (o.tear) {
        cyc.tear = tearLog(dir, o.shards, gen, (id) => coll.acks.get(id)?.count ?? 0, rng, o.tear);
        const t = cyc.tear;
        progress?.note(t.applied ? `tear (${t.mode}): ${t.kind} of ${t.bytes} bytes at offset ${t.offset} of shard ${t.shard}'s last segment (acknowledged data ends at ${t.ackedEnd})` : `tear (${t.mode}): not applied, ${t.note}`);
      }
      const r = await reopen(dir);
      cyc.recovery = r.recovery;
      cyc.openError = r.error;
      if (o.tear === 'synced' && cyc.tear?.applied) {
        // corruption of acknowledged data: it must be reported loudly, at open or when read
        if (r.error?.code === 'ERR_SHARDLOG_CORRUPT') {
          progress?.note('the corruption of synced data was reported loudly by recovery, as it must be');
          break;
        }
        if (r.error) {
          failures.push(`recovery failed with ${describeError(r.error)}, expected a CorruptLogError`);
          break;
        }
        const before = failures.length;
        const v = verify(dir);
        if (v.readError?.code === 'ERR_SHARDLOG_CORRUPT') {
          failures.length = before; // the reader's refusal is the expected loud report, not a failure
          progress?.note('the corruption of synced data was reported loudly by the reader, as it must be');
        } else failures.push('a flipped byte in an acknowledged record was not reported as corruption');
        break;
      }
      if (r.error) {
        failures.push(`recovery after the kill failed: ${describeError(r.error)}`);
        break;
      }
      if (!verify(dir).ok) break;
    }
  }

  /** The shared part of full-disk and writer-exit: the log must fail loudly, then recover. */
  async function loudFailure(dir: string, ph: Phase, what: string, causeOk: (e: ErrorInfo) => boolean): Promise<void> {
    const end = ph.end!;
    const f = (report.faults ??= {});
    f.failure = end.failure;
    f.closeError = end.closeError;
    failures.push(...end.workerErrors, ...coll.problemsOf(ph));
    if (!end.failure) failures.push(`the log never failed (expected ${what})`);
    else {
      if (end.failure.code !== 'ERR_SHARDLOG_SHARD_FAILED') failures.push(`the log failed with ${describeError(end.failure)}, expected a ShardFailedError`);
      if (!causeOk(end.failure)) failures.push(`the failure's cause is not ${what}: ${describeError(end.failure)}`);
      if (!end.closeError) failures.push('close() resolved on a failed log; it must reject');
    }
    let appendErrors = 0;
    let probes = 0;
    for (const id of ph.producers) {
      const d = coll.done.get(id);
      if (!d) continue;
      if (d.appendError) {
        appendErrors++;
        if (d.appendError.code !== 'ERR_SHARDLOG_SHARD_FAILED') failures.push(`producer ${id}: append threw ${describeError(d.appendError)}, expected ShardFailedError`);
        if (d.probe === 'rejected' && d.probeError?.code === 'ERR_SHARDLOG_SHARD_FAILED') probes++;
        else failures.push(`producer ${id}: durable() after the failure ${d.probe === 'hung' ? 'hung' : d.probe === 'resolved' ? 'resolved' : `rejected with ${describeError(d.probeError)}`}; it must reject with ShardFailedError`);
      } else if (end.failure) failures.push(`producer ${id} never saw the failure (its appends kept succeeding)`);
    }
    f.appendErrors = appendErrors;
    f.durableProbesRejected = probes;
    progress?.note(`the log failed: ${describeError(end.failure)}; ${appendErrors} producer(s) saw append() throw, ${probes} saw durable() reject`);
    const r = await reopen(dir);
    f.recovery = r.recovery;
    if (r.error) {
      failures.push(`reopening after the failure failed: ${describeError(r.error)}`);
      return;
    }
    // the log works again: a short clean session on top, then verify everything
    const entries = Math.max(o.producers + 1, Math.min(20_000, Math.floor((f.fullDisk ? f.fullDisk.fillerBytes / 4 : 8 << 20) / meanSize(size))));
    const ph2 = startPhase('after recovery', ph.producers[ph.producers.length - 1] + 1);
    await runSession(session(dir, ph2.producers[0], { entries, durationMs: undefined, rate: 0 }), coll.on, new Int32Array(new SharedArrayBuffer(4)));
    const end2 = ph2.end!;
    f.afterRecovery = { entries: ph2.producers.reduce((a, id) => a + (coll.done.get(id)?.appended ?? 0), 0) };
    if (end2.failure || end2.closeError) failures.push(`the log failed again after recovery: ${describeError(end2.failure ?? end2.closeError)}`);
    failures.push(...end2.workerErrors, ...coll.problemsOf(ph2));
    verify(dir);
  }

  async function runWriterExit(dir: string): Promise<void> {
    report.faults = { writerExitAfterBatches: o.writerExit };
    const ph = startPhase('', 0);
    await runSession(session(dir, 0, { testFaults: { exitAfterBatches: o.writerExit }, durationMs: o.durationMs ?? 30_000, entries: undefined }), coll.on, stop);
    await loudFailure(dir, ph, 'a writer thread exit', (e) => e.causeCode === 'WORKER_EXIT' || /exited/.test(e.message));
  }

  async function runFullDisk(): Promise<void> {
    const sfs = mountSmallFs(o.diskBytes);
    if ('skipped' in sfs) {
      report.skipped = sfs.skipped;
      progress?.note(`full-disk: SKIPPED: ${sfs.skipped}`);
      return;
    }
    const dir = path.join(sfs.dir, 'log');
    report.dir = dir;
    try {
      const filler = path.join(sfs.dir, 'filler');
      const fillerBytes = fillDisk(filler, FULL_DISK_HEADROOM);
      report.faults = { fullDisk: { filesystem: sfs.kind, bytes: sfs.bytes, fillerBytes } };
      progress?.note(`full-disk: ${sfs.kind} of ${sfs.bytes} bytes, ${fillerBytes} of them taken by a filler file; loading until ENOSPC`);
      const ph = startPhase('until full', 0);
      await runSession(session(dir, 0, { durationMs: o.durationMs ?? 60_000, entries: undefined }), coll.on, stop);
      fs.rmSync(filler);
      progress?.note('full-disk: filler deleted, reopening');
      await loudFailure(dir, ph, 'ENOSPC', (e) => e.causeCode === 'ENOSPC' || /ENOSPC/.test(e.message));
    } finally {
      sfs.release();
    }
  }
}
