/**
 * Prometheus gauges for a Shipper through prom-client (an optional peer dependency, loaded like
 * @shardlog/core's registerMetrics does):
 *
 *   registerShipMetrics(shipper, registry);
 *
 * Every value is read from shipper.stats() at scrape time; one snapshot serves a whole scrape.
 */
import { createRequire } from 'node:module';
import type { PromClientModule, PromRegistry, RegisteredMetrics } from '@shardlog/core';
import { InvalidArgumentError } from '@shardlog/workers';
import type { Shipper, ShipState, ShipStats, ShardShipStats } from './shipper.js';

export interface ShipMetricsOptions {
  /** Prefix of every metric name. Default 'shardlog_ship_'. */
  prefix?: string;
  /** Constant labels added to every sample, e.g. { stream: 'INGEST' }. */
  labels?: Record<string, string>;
  /** The prom-client module. Default: require('prom-client'). */
  promClient?: PromClientModule;
}

interface Gauge {
  set(labels: Record<string, string>, value: number): void;
  reset(): void;
}

type ShipNumeric = { [K in keyof ShipStats]: ShipStats[K] extends number ? K : never }[keyof ShipStats];
type ShardNumeric = { [K in keyof ShardShipStats]: ShardShipStats[K] extends number ? K : never }[keyof ShardShipStats];

const GAUGES: [string, string, ShipNumeric][] = [
  ['entries_per_second', 'Entries acknowledged by the stream per second (last second).', 'entriesPerSec'],
  ['shipped_entries', 'Entries acknowledged by the stream since the shipper started.', 'shippedEntries'],
  ['shipped_bytes', 'Entry bytes acknowledged by the stream since the shipper started.', 'shippedBytes'],
  ['lag_entries', 'Entries appended to the log and not yet acknowledged by the stream.', 'lagEntries'],
  ['lag_bytes', 'Bytes of entries appended to the log and not yet acknowledged by the stream.', 'lagBytes'],
  ['buffered_bytes', 'Entry bytes read from the log and waiting for acknowledgement.', 'bufferedBytes'],
];

const SHARD_GAUGES: [string, string, ShardNumeric][] = [
  ['shipped_seq', 'Highest seq of the shard the stream has acknowledged.', 'shippedSeq'],
  ['stream_seq', "Stream sequence of the shard subject's last message.", 'streamSeq'],
  ['retries', 'Publishes retried (no answer in time, server gone).', 'retries'],
  ['conflicts', 'Publishes the stream already had (another shipper, or an earlier attempt); shipping resumed after them.', 'conflicts'],
];

const STATES: ShipState[] = ['starting', 'shipping', 'waiting', 'stopped', 'failed'];

function loadPromClient(): PromClientModule {
  try {
    return createRequire(import.meta.url)('prom-client') as PromClientModule;
  } catch (e) {
    throw new InvalidArgumentError(`registerShipMetrics needs prom-client (an optional peer dependency of @shardlog/ship): install it, or pass { promClient } (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Export shipper.stats() into `registry` as gauges. Returns the names and an unregister(). */
export function registerShipMetrics(shipper: Shipper, registry: PromRegistry, options: ShipMetricsOptions = {}): RegisteredMetrics {
  if (!shipper || typeof shipper.stats !== 'function') throw new InvalidArgumentError('registerShipMetrics takes a Shipper (from shipLog)');
  if (!registry || typeof registry.registerMetric !== 'function') throw new InvalidArgumentError('registerShipMetrics takes a prom-client Registry');
  const prefix = options.prefix ?? 'shardlog_ship_';
  const constant = options.labels ?? {};
  const prom = options.promClient ?? loadPromClient();
  const extra = Object.keys(constant);
  let snap: ShipStats | undefined;
  const stats = (): ShipStats => {
    if (!snap) {
      snap = shipper.stats();
      queueMicrotask(() => (snap = undefined));
    }
    return snap;
  };
  const names: string[] = [];
  const add = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void): void => {
    const full = prefix + name;
    new prom.Gauge({
      name: full,
      help,
      labelNames: [...labelNames, ...extra],
      registers: [registry],
      collect(this: Gauge) {
        collect(this);
      },
    } as never);
    names.push(full);
  };
  try {
    for (const [name, help, field] of GAUGES) add(name, help, [], (g) => g.set({ ...constant }, stats()[field]));
    for (const [name, help, field] of SHARD_GAUGES) {
      add(name, help, ['shard'], (g) => {
        for (const s of stats().shards) g.set({ ...constant, shard: String(s.shard) }, s[field]);
      });
    }
    add('state', 'The shipper state: 1 for the current one.', ['state'], (g) => {
      const st = stats().state;
      for (const s of STATES) g.set({ ...constant, state: s }, s === st ? 1 : 0);
    });
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
