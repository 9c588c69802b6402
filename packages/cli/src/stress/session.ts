/**
 * One load session: open the log, start the producers (the main thread plus N producer threads, all
 * appending into the same rings through log.producerHandle() / attachProducer()), sample log.stats()
 * for the progress display, wait for the producers, close. Everything it learns goes out through
 * `emit` as LoadMessages, so the same code runs inside the runner's process or in a forked writer
 * child that the runner SIGKILLs (kill mode).
 */
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { openLog, type Log, type LogStats, type SyncOption } from '@shardlog/core';
import type { TestFaults } from '@shardlog/workers';
import { runProducer, type LoadConfig } from './load.js';
import { errorInfo, type ErrorInfo, type LoadMessage, type RecoverySummary, type StatsSample } from './messages.js';
import type { SizeDist } from './options.js';

export interface SessionConfig {
  dir: string;
  shards: number;
  sync: SyncOption;
  ringBytes?: number;
  segmentBytes?: number;
  testFaults?: TestFaults;
  /** Producer threads besides the main thread. */
  producers: number;
  /** Id of the main thread's producer; threads get the next ones. */
  firstId: number;
  seed: number;
  kind: 'binary' | 'string';
  /** Resolved (heavy.max set). */
  size: SizeDist;
  api: LoadConfig['api'];
  /** Entries per second over all producers, 0 = unbounded. */
  rate: number;
  durationMs?: number;
  /** Entries over all producers. */
  entries?: number;
  ackMs: number;
  hangMs: number;
  /** How often the stats sample (and each producer's latency histogram) is sent. */
  statsMs: number;
  /** Stop the load early when the log's filesystem has less than this free (0: never; full-disk mode). */
  minFreeBytes: number;
}

export type Emit = (m: LoadMessage) => void;

export function sample(s: LogStats): StatsSample {
  return {
    state: s.state,
    entries: s.entries,
    payloadBytes: s.payloadBytes,
    fileBytes: s.fileBytes,
    fsyncs: s.fsyncs,
    batches: s.batches,
    durableLagBytes: s.durableLagBytes,
    pendingBytes: s.shards.reduce((a, x) => a + x.pendingBytes, 0),
    ringFullWaits: s.ringFullWaits,
    segments: s.shards.reduce((a, x) => a + x.segments, 0),
  };
}

export function summarizeRecovery(log: Log): RecoverySummary[] {
  return log.recovery.map((r) => ({
    shard: r.shard,
    segments: r.segments,
    records: r.records,
    bytesCut: r.bytesCut,
    cutReason: r.cutReason,
    cutFile: r.cutFile,
    cutOffset: r.cutOffset,
    removedFiles: r.removedFiles.length,
  }));
}

/** Run one session to its end. `stop` (Int32Array over a SharedArrayBuffer) ends the load early when set. */
export async function runSession(cfg: SessionConfig, emit: Emit, stop = new Int32Array(new SharedArrayBuffer(4))): Promise<void> {
  const log = await openLog({
    dir: cfg.dir,
    shards: cfg.shards,
    sync: cfg.sync,
    ringBytes: cfg.ringBytes,
    segmentBytes: cfg.segmentBytes,
    testFaults: cfg.testFaults,
  });
  emit({ type: 'ready', pid: process.pid, maxEntryBytes: log.maxEntryBytes, recovery: summarizeRecovery(log) });
  const t0 = Date.now();
  const loadOf = loadConfigs(cfg, t0);
  const threads = startProducerThreads(log, cfg, loadOf, stop, emit);
  const statsTimer = startStatsTimer(log, cfg, t0, stop, emit);
  await runProducer(log, cfg.firstId, loadOf(0), stop, emit);
  await threads.settle(cfg.hangMs, stop);
  clearInterval(statsTimer);
  const elapsedMs = Date.now() - t0;
  const failure: ErrorInfo | undefined = log.failure ? errorInfo(log.failure) : undefined;
  let closeError: ErrorInfo | undefined;
  try {
    await log.close();
  } catch (e) {
    closeError = errorInfo(e);
  }
  emit({ type: 'session-end', elapsedMs, failure, closeError, stats: sample(log.stats()), workerErrors: threads.errors });
}

/** The load of producer i (0: the main thread): its share of the rate and of the entries. */
function loadConfigs(cfg: SessionConfig, t0: number): (i: number) => LoadConfig {
  const nProducers = cfg.producers + 1;
  const deadline = cfg.durationMs === undefined ? Infinity : t0 + cfg.durationMs;
  const quotaOf = (i: number) => (cfg.entries === undefined ? Infinity : Math.floor(cfg.entries / nProducers) + (i < cfg.entries % nProducers ? 1 : 0));
  return (i) => ({
    seed: cfg.seed,
    kind: cfg.kind,
    size: cfg.size,
    api: cfg.api,
    rate: cfg.rate / nProducers,
    deadline,
    quota: quotaOf(i),
    ackMs: cfg.ackMs,
    hangMs: cfg.hangMs,
    histMs: cfg.statsMs,
  });
}

interface ProducerThreads {
  /** Thread errors, exits before 'done', a hang. */
  errors: string[];
  /** Wait for every thread to finish; terminate them all if they fall silent (a hang). */
  settle(hangMs: number, stop: Int32Array): Promise<void>;
}

/** Start producer threads 1..cfg.producers (producer-worker.ts); their messages go to `emit`. */
function startProducerThreads(log: Log, cfg: SessionConfig, loadOf: (i: number) => LoadConfig, stop: Int32Array, emit: Emit): ProducerThreads {
  const errors: string[] = [];
  let lastMessage = Date.now();
  const exits: Promise<void>[] = [];
  const workers: Worker[] = [];
  for (let i = 1; i <= cfg.producers; i++) {
    const id = cfg.firstId + i;
    const w = new Worker(new URL('./producer-worker.js', import.meta.url), {
      workerData: { handle: log.producerHandle(), id, cfg: loadOf(i), stop: stop.buffer },
      name: `stress-producer-${i}`,
    });
    workers.push(w);
    let sawDone = false;
    w.on('message', (m: LoadMessage) => {
      lastMessage = Date.now();
      if (m.type === 'done') sawDone = true;
      emit(m);
    });
    w.on('error', (e) => errors.push(`producer thread ${id}: ${e.message}`));
    exits.push(
      new Promise<void>((resolve) =>
        w.once('exit', (code) => {
          if (!sawDone) errors.push(`producer thread ${id} exited (code ${code}) before it finished`);
          resolve();
        }),
      ),
    );
  }
  return {
    errors,
    async settle(hangMs, stop) {
      // The producer threads stop by themselves (deadline, quota, failure). One that sends nothing (no
      // ack point, no histogram, no 'done') for long is stuck: a hang. A producer itself reports a stuck
      // durable() after hangMs (twice that after a failure: its probe, then its calls in flight), so
      // this coarser watchdog waits three times as long to let that finer report arrive first.
      const silentMs = hangMs * 3;
      let allDone = false;
      void Promise.all(exits).then(() => (allDone = true));
      while (!allDone && Date.now() - lastMessage < silentMs) await new Promise((r) => setTimeout(r, 50));
      if (!allDone) {
        errors.push(`producer threads sent nothing for ${silentMs} ms and did not finish (hang)`);
        Atomics.store(stop, 0, 1);
        await Promise.all(workers.map((w) => w.terminate()));
      }
    },
  };
}

/** Every statsMs: a stats sample for the progress display, and the free-space guard (minFreeBytes). */
function startStatsTimer(log: Log, cfg: SessionConfig, t0: number, stop: Int32Array, emit: Emit): NodeJS.Timeout {
  let lowSpace = false;
  return setInterval(() => {
    emit({ type: 'stats', t: Date.now() - t0, stats: sample(log.stats()) });
    if (cfg.minFreeBytes > 0 && !lowSpace) {
      const st = fs.statfsSync(cfg.dir);
      const free = st.bavail * st.bsize;
      if (free < cfg.minFreeBytes) {
        lowSpace = true;
        Atomics.store(stop, 0, 1);
        emit({ type: 'note', text: `stopping the load early: only ${free} bytes left free on the log's filesystem` });
      }
    }
  }, cfg.statsMs);
}
