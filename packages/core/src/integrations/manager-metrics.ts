/**
 * Prometheus metrics for a log manager through prom-client:
 *
 *   registerManagerMetrics(manager, registry);
 *
 * Every open log's per-shard counters and gauges (the same names as registerMetrics) with a `log`
 * label, and the manager's own: open logs, threads, logs created / opened / reused / evicted /
 * idle-closed / dropped, and totals over every log it opened (entries, bytes, fsyncs). All are read
 * from manager.stats() at scrape time (one snapshot per scrape). A log that is closed drops out of
 * the per-log series (its next open starts them from its files' counts again).
 */
import { InvalidArgumentError } from '@shardlog/workers';
import type { LogManager, LogManagerStats } from '../log-manager.js';
import { COUNTERS, createMetric, GAUGES, loadPromClient, type MetricsOptions, type PromMetric, type PromRegistry, type RegisteredMetrics } from './metrics.js';

type ManagerNumeric = { [K in keyof LogManagerStats]: LogManagerStats[K] extends number ? K : never }[keyof LogManagerStats];

const MANAGER_COUNTERS: [string, string, ManagerNumeric][] = [
  ['manager_logs_created_total', 'Log directories the manager created.', 'logsCreated'],
  ['manager_logs_opened_total', 'Logs opened from disk (created ones included).', 'logsOpened'],
  ['manager_logs_reused_total', 'manager.log() calls answered with the log already open.', 'logsReused'],
  ['manager_logs_evicted_total', 'Logs closed to stay within maxOpenLogs.', 'logsEvicted'],
  ['manager_logs_idle_closed_total', 'Logs closed after idleCloseMs.', 'logsIdleClosed'],
  ['manager_logs_dropped_total', 'Logs removed by drop().', 'logsDropped'],
  ['manager_entries_total', 'Entries written, over every log the manager opened.', 'entries'],
  ['manager_file_bytes_total', 'Bytes written to segment files, over every log the manager opened.', 'fileBytes'],
  ['manager_fsyncs_total', 'fdatasync calls, over every log the manager opened.', 'fsyncs'],
];

const MANAGER_GAUGES: [string, string, ManagerNumeric][] = [
  ['manager_open_logs', 'Logs open now.', 'openLogs'],
  ['manager_threads', 'Writer threads in the pool.', 'threads'],
  ['manager_hosted_writers', 'Shard writers hosted by the pool threads.', 'hostedWriters'],
];

/** Export `manager.stats()` into `registry`. Returns the names and an unregister(). */
export function registerManagerMetrics(manager: LogManager, registry: PromRegistry, options: MetricsOptions = {}): RegisteredMetrics {
  if (!manager || typeof manager.stats !== 'function' || typeof manager.list !== 'function') throw new InvalidArgumentError('registerManagerMetrics takes a log manager');
  if (!registry || typeof registry.registerMetric !== 'function') throw new InvalidArgumentError('registerManagerMetrics takes a prom-client Registry');
  const prefix = options.prefix ?? 'shardlog_';
  const constant = options.labels ?? {};
  const prom = options.promClient ?? loadPromClient();
  const extra = Object.keys(constant);

  let snap: LogManagerStats | undefined;
  const stats = (): LogManagerStats => {
    if (!snap) {
      snap = manager.stats();
      queueMicrotask(() => (snap = undefined));
    }
    return snap;
  };

  const names: string[] = [];
  const add = (kind: 'Counter' | 'Gauge', name: string, help: string, labelNames: string[], collect: (m: PromMetric) => void): void => {
    const full = prefix + name;
    createMetric(prom, kind, { name: full, help, labelNames: [...labelNames, ...extra], registers: [registry], collect(this: PromMetric) { collect(this); } });
    names.push(full);
  };

  try {
    for (const [name, help, field] of COUNTERS) {
      add('Counter', name, help, ['log', 'shard'], (m) => {
        m.reset();
        for (const [log, st] of Object.entries(stats().logs)) for (const s of st.shards) m.inc({ ...constant, log, shard: String(s.shard) }, s[field]);
      });
    }
    for (const [name, help, field] of GAUGES) {
      add('Gauge', name, help, ['log', 'shard'], (m) => {
        m.reset();
        for (const [log, st] of Object.entries(stats().logs)) for (const s of st.shards) m.set({ ...constant, log, shard: String(s.shard) }, s[field]);
      });
    }
    add('Gauge', 'next_seq', 'The sequence number the next append gets.', ['log'], (m) => {
      m.reset();
      for (const [log, st] of Object.entries(stats().logs)) m.set({ ...constant, log }, st.nextSeq);
    });
    for (const [name, help, field] of MANAGER_COUNTERS) {
      add('Counter', name, help, [], (m) => {
        m.reset();
        m.inc({ ...constant }, stats()[field]);
      });
    }
    for (const [name, help, field] of MANAGER_GAUGES) add('Gauge', name, help, [], (m) => m.set({ ...constant }, stats()[field]));
  } catch (e) {
    for (const n of names) registry.removeSingleMetric(n);
    throw e;
  }
  return {
    names,
    unregister() {
      for (const n of names) registry.removeSingleMetric(n);
    },
  };
}
