/**
 * Prometheus metrics for a log through prom-client:
 *
 *   import { Registry } from 'prom-client';
 *   const registry = new Registry();
 *   registerMetrics(log, registry);
 *   // serve `await registry.metrics()` with `registry.contentType` on GET /metrics
 *
 * Every metric is read from log.stats() at scrape time (prom-client's collect() callbacks), so
 * the append path does no metrics work at all. One stats() snapshot serves a whole scrape.
 *
 * prom-client is an optional peer dependency of @shardlog/core: registerMetrics loads it with
 * require() from here (so the copy your app installed is found), unless you pass `promClient`
 * (the module itself), e.g. when your registry comes from a different copy.
 */
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '@shardlog/workers';
import type { Log, LogStats, ShardStats } from '../log.js';

/** The parts of a prom-client Registry this module uses. */
export interface PromRegistry {
  registerMetric(metric: unknown): void;
  removeSingleMetric(name: string): void;
}

export interface MetricConfig {
  name: string;
  help: string;
  labelNames: string[];
  registers: PromRegistry[];
  collect(this: PromMetric): void;
}
export interface PromMetric {
  reset(): void;
  inc(labels: Record<string, string>, value: number): void;
  set(labels: Record<string, string>, value: number): void;
}
/** The parts of the prom-client module this module uses. */
export interface PromClientModule {
  // Typed to accept prom-client's own classes (generic per metric kind, their collect()'s `this` the
  // class itself): any one-argument constructor. What is passed to them is a MetricConfig.
  Counter: new (config: never) => unknown;
  Gauge: new (config: never) => unknown;
}
type MetricClass = new (config: MetricConfig) => unknown;

/** A Counter or Gauge of `prom` registered by its config (both metrics modules make theirs here). */
export function createMetric(prom: PromClientModule, kind: 'Counter' | 'Gauge', config: MetricConfig): void {
  new (prom[kind] as unknown as MetricClass)(config);
}

export interface MetricsOptions {
  /** Prefix of every metric name. Default 'shardlog_'; give each log in one registry its own. */
  prefix?: string;
  /** Constant labels added to every sample, e.g. { log: 'ingest' }. */
  labels?: Record<string, string>;
  /** The prom-client module to take Counter and Gauge from. Default: require('prom-client'). */
  promClient?: PromClientModule;
}

export interface RegisteredMetrics {
  /** Names of the metrics registered. */
  readonly names: string[];
  /** Remove them from the registry again. */
  unregister(): void;
}

export type Numeric = { [K in keyof ShardStats]: ShardStats[K] extends number ? K : never }[keyof ShardStats];

/** Per-shard counters: metric name (after the prefix), help, the ShardStats field. */
export const COUNTERS: [string, string, Numeric][] = [
  ['entries_total', 'Entries written to segment files.', 'entries'],
  ['payload_bytes_total', 'Payload bytes of the entries written.', 'payloadBytes'],
  ['file_bytes_total', 'Bytes written to segment files, headers and padding included.', 'fileBytes'],
  ['batches_total', 'Batches the writer thread wrote (one writev each, two at most when one wraps the ring).', 'batches'],
  ['writev_calls_total', 'writev system calls.', 'writevCalls'],
  ['fsyncs_total', 'fdatasync system calls.', 'fsyncs'],
  ['ring_full_waits_total', 'Times a producer found the ring full.', 'ringFullWaits'],
  ['segments_total', 'Segment files created.', 'segments'],
];

/** Per-shard gauges. */
export const GAUGES: [string, string, Numeric][] = [
  ['durable_lag_bytes', 'Bytes written but not yet fdatasynced.', 'durableLagBytes'],
  ['pending_bytes', 'Ring bytes appended and not yet written.', 'pendingBytes'],
  ['last_seq', 'Highest sequence number written.', 'lastSeq'],
];

const STATES: LogStats['state'][] = ['starting', 'running', 'closing', 'closed', 'failed'];

export function loadPromClient(): PromClientModule {
  try {
    return createRequire(import.meta.url)('prom-client') as PromClientModule;
  } catch (e) {
    throw new InvalidArgumentError(
      `registerMetrics needs prom-client (an optional peer dependency of @shardlog/core): install it, or pass { promClient } (${(e as Error).message.split('\n')[0]})`,
    );
  }
}

/**
 * Export `log.stats()` into `registry`: per-shard counters (entries, bytes, batches, writev calls,
 * fsyncs, ring-full waits, segments) and gauges (durable lag, pending bytes, last seq), plus the
 * log's next sequence number and state. Returns the names and an unregister().
 */
export function registerMetrics(log: Log, registry: PromRegistry, options: MetricsOptions = {}): RegisteredMetrics {
  if (!log || typeof log.stats !== 'function') throw new InvalidArgumentError('registerMetrics takes an open log');
  if (!registry || typeof registry.registerMetric !== 'function') throw new InvalidArgumentError('registerMetrics takes a prom-client Registry');
  const prefix = options.prefix ?? 'shardlog_';
  const constant = options.labels ?? {};
  const prom = options.promClient ?? loadPromClient();
  const extra = Object.keys(constant);

  // One snapshot per scrape: prom-client calls every collect() in one synchronous pass.
  let snap: LogStats | undefined;
  const stats = (): LogStats => {
    if (!snap) {
      snap = log.stats();
      queueMicrotask(() => (snap = undefined));
    }
    return snap;
  };

  const names: string[] = [];
  const add = (kind: 'Counter' | 'Gauge', name: string, help: string, labelNames: string[], collect: (m: PromMetric) => void): void => {
    const full = prefix + name;
    createMetric(prom, kind, {
      name: full,
      help,
      labelNames: [...labelNames, ...extra],
      registers: [registry],
      collect(this: PromMetric) {
        collect(this);
      },
    });
    names.push(full);
  };

  try {
    for (const [name, help, field] of COUNTERS) {
      add('Counter', name, help, ['shard'], (m) => {
        m.reset();
        for (const s of stats().shards) m.inc({ ...constant, shard: String(s.shard) }, s[field]);
      });
    }
    for (const [name, help, field] of GAUGES) {
      add('Gauge', name, help, ['shard'], (m) => {
        for (const s of stats().shards) m.set({ ...constant, shard: String(s.shard) }, s[field]);
      });
    }
    add('Gauge', 'next_seq', 'The sequence number the next append gets.', [], (m) => m.set({ ...constant }, stats().nextSeq));
    add('Gauge', 'state', 'The log state: 1 for the current one.', ['state'], (m) => {
      const st = stats().state;
      for (const s of STATES) m.set({ ...constant, state: s }, s === st ? 1 : 0);
    });
  } catch (e) {
    for (const n of names) registry.removeSingleMetric(n); // a name taken: leave the registry as it was
    throw e;
  }

  return {
    names,
    unregister() {
      for (const n of names) registry.removeSingleMetric(n);
    },
  };
}
