/**
 * The state one stress run shares across its mode modules: the resolved options, the entry
 * generator and fault rng, the collector of load messages, the report being filled in and its
 * failures, and the steps every mode uses (a session's config, a new phase, reopen = recovery,
 * verify the whole log, finish the report).
 */
import { HEADER_BYTES, maxFrameBytes } from '@shardlog/workers';
import { openLog } from '@shardlog/core';
import { resolveOptions } from '@shardlog/core/internal/options';
import { Collector, describeError, type Phase } from './collector.js';
import { errorInfo, type ErrorInfo, type RecoverySummary } from './messages.js';
import { DEFAULTS, formatSize, formatSync, resolveSize, type SizeDist, type StressOptions } from './options.js';
import { checkProducerId, Payloads, STRESS_HEADER_BYTES } from './payload.js';
import { Rng } from './prng.js';
import type { Progress } from './progress.js';
import type { StressMode, StressReport } from './report-types.js';
import { summarizeRecovery, type SessionConfig } from './session.js';
import { verifyLog, type VerifyResult } from './verify.js';

export interface RunIO {
  progress?: Progress;
  /** Aborting ends the load early (the run still closes / recovers and verifies). */
  signal?: AbortSignal;
}

const STATS_MS = 250;
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

/** The mean entry size of a distribution (to size the load after a recovery). */
export function meanSize(s: SizeDist): number {
  if (s.kind === 'fixed') return s.bytes;
  if (s.kind === 'uniform') return (s.min + s.max) / 2;
  return Math.min(s.max!, s.min * 6); // Pareto 1.2: mean min*alpha/(alpha-1), truncated
}

export class StressRun {
  readonly o: StressOptions;
  readonly mode: StressMode;
  readonly maxEntryBytes: number;
  /** The entry size distribution, resolved against the ring's largest entry. */
  readonly size: SizeDist;
  readonly gen: Payloads;
  readonly rng: Rng;
  readonly coll = new Collector();
  readonly progress: Progress | undefined;
  readonly failures: string[] = [];
  readonly notes: string[] = [];
  /** Set (stop[0] = 1) to end the load early. */
  readonly stop = new Int32Array(new SharedArrayBuffer(4));
  /** The caller's abort signal (kill mode also SIGKILLs its child on abort). */
  readonly abortSignal: AbortSignal | undefined;
  readonly report: StressReport;

  constructor(opts: Partial<StressOptions>, io: RunIO) {
    const o: StressOptions = { ...DEFAULTS, ...opts };
    this.o = o;
    this.mode = modeOf(o);
    if (o.durationMs === undefined && o.entries === undefined && this.mode !== 'full-disk' && this.mode !== 'writer-exit') o.durationMs = 5000;
    const ringBytes = resolveOptions({ dir: '.', ringBytes: o.ringBytes }).ringBytes;
    this.maxEntryBytes = maxFrameBytes(ringBytes) - HEADER_BYTES;
    this.size = resolveSize(o.size, STRESS_HEADER_BYTES, this.maxEntryBytes);
    checkProducerId(o.cycles * (o.producers + 1) + o.producers + 1);
    this.gen = new Payloads({ seed: o.seed, kind: o.kind, size: this.size });
    this.rng = new Rng(o.seed ^ 0xfa17);
    this.progress = io.progress;
    this.abortSignal = io.signal;
    this.coll.listener = (m, c) => {
      if (m.type === 'stats' && this.progress) this.progress.sample(m.t, m.stats, c.ackedTotal());
      if (m.type === 'note') {
        this.notes.push(m.text);
        this.progress?.note(m.text);
      }
      if (m.type === 'ready' && m.maxEntryBytes !== this.maxEntryBytes) this.failures.push(`the log allows entries of ${m.maxEntryBytes} bytes, the runner computed ${this.maxEntryBytes}`);
    };
    io.signal?.addEventListener('abort', () => Atomics.store(this.stop, 0, 1), { once: true });
    this.report = this.emptyReport();
  }

  private emptyReport(): StressReport {
    const o = this.o;
    return {
      ok: false,
      mode: this.mode,
      seed: o.seed,
      replay: replayCommand(o),
      config: {
        shards: o.shards,
        producers: o.producers,
        size: formatSize(this.size),
        kind: o.kind,
        sync: formatSync(o.sync),
        rate: o.rate || 'unbounded',
        api: o.api,
        durationMs: o.durationMs,
        entries: o.entries,
        ringBytes: o.ringBytes,
        segmentBytes: o.segmentBytes,
        maxEntryBytes: this.maxEntryBytes,
      },
      dir: '',
      kept: false,
      throughput: this.coll.throughput(),
      latency: this.coll.latency(),
      notes: this.notes,
      failures: this.failures,
    };
  }

  get stopped(): boolean {
    return Atomics.load(this.stop, 0) !== 0;
  }

  /** The config of a session on `dir` whose producers have ids firstId.. */
  session(dir: string, firstId: number, extra: Partial<SessionConfig> = {}): SessionConfig {
    const o = this.o;
    return {
      dir,
      shards: o.shards,
      sync: o.sync,
      ringBytes: o.ringBytes,
      segmentBytes: o.segmentBytes,
      producers: o.producers,
      firstId,
      seed: o.seed,
      kind: o.kind,
      size: this.size,
      api: o.api,
      rate: o.rate,
      durationMs: o.durationMs,
      entries: o.entries,
      ackMs: o.ackMs,
      hangMs: o.hangMs,
      statsMs: STATS_MS,
      minFreeBytes: this.mode === 'full-disk' ? 0 : MIN_FREE_BYTES,
      ...extra,
    };
  }

  /** A new phase (one session) whose producers have ids first..first+producers. */
  startPhase(name: string, first: number): Phase {
    this.progress?.startPhase(name);
    return this.coll.phase(
      name,
      Array.from({ length: this.o.producers + 1 }, (_, i) => first + i),
    );
  }

  /** Open the log (which runs recovery) and close it: what recovery did, or why it refused. */
  async reopen(dir: string): Promise<{ recovery?: RecoverySummary[]; error?: ErrorInfo }> {
    try {
      const log = await openLog({ dir, ringBytes: this.o.ringBytes, segmentBytes: this.o.segmentBytes });
      const recovery = summarizeRecovery(log);
      await log.close();
      const cut = recovery.filter((r) => r.bytesCut > 0 || r.removedFiles > 0);
      this.progress?.note(`recovery: ${cut.length ? cut.map((r) => `shard ${r.shard} cut ${r.bytesCut} bytes (${r.cutReason ?? 'short segment removed'})`).join('; ') : 'nothing to cut'}`);
      return { recovery };
    } catch (e) {
      const error = errorInfo(e);
      this.progress?.note(`recovery refused the log: ${describeError(error)}`);
      return { error };
    }
  }

  /** Re-read the whole log against what the producers reported; a failure when anything is off. */
  verify(dir: string): VerifyResult {
    this.progress?.note('verifying: re-reading the whole log');
    const v = verifyLog(dir, this.gen, this.coll.expectations());
    this.report.verification = v;
    if (!v.ok) {
      this.failures.push(
        `verification failed: ${v.lost} lost, ${v.duplicates} duplicated, ${v.outOfOrder} out of order, ${v.corrupt} corrupt, ${v.phantom} never appended, ` +
          `${v.hashMismatches} hash mismatches, ${v.seqErrors} seq errors${v.readError ? `; ${describeError(v.readError)}` : ''}`,
      );
    }
    return v;
  }

  /** Close the progress line and fill in throughput, latency and the verdict. */
  finish(): StressReport {
    this.progress?.closeLine();
    this.report.throughput = this.coll.throughput();
    this.report.latency = this.coll.latency();
    this.report.ok = this.failures.length === 0;
    return this.report;
  }
}
