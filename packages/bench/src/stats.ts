/**
 * Medians over repetitions. The machine is noisy (2 cores shared with the disk's interrupts and
 * whatever else runs), so every case runs several times in fresh processes and the report shows
 * the median of each figure, with the spread of the headline one.
 */
import type { AllocResult, DurableResult, E2EResult } from './types.js';

/** Median of the finite values (NaN if none). */
export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function min(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? Math.min(...v) : NaN;
}

export function max(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? Math.max(...v) : NaN;
}

/** Every field named K, as a median over the runs. */
function medians<T, K extends keyof T>(runs: T[], keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) (out as Record<K, number>)[k] = median(runs.map((r) => r[k] as number));
  return out;
}

const E2E_KEYS = ['entriesPerSec', 'mbPerSec', 'cpuNsPerEntry', 'peakRssMiB', 'gcs', 'heapBytesPerEntry', 'wallMs', 'appendMs', 'fileBytes', 'payloadBytes'] as const;

export interface E2ERow extends Pick<E2EResult, (typeof E2E_KEYS)[number]> {
  id: string;
  label: string;
  system: E2EResult['system'];
  n: number;
  runs: number;
  /** Every repetition ran and verified. */
  verified: boolean;
  /** Why some repetition failed (crash or verification). */
  problems: string[];
  minMbPerSec: number;
  maxMbPerSec: number;
  cpuSource: E2EResult['cpuSource'];
  /** Medians of the numeric extras. */
  extra: Record<string, number>;
}

export function aggregateE2E(id: string, label: string, system: E2EResult['system'], results: E2EResult[], failures: string[]): E2ERow {
  const problems = [...failures];
  for (const r of results) if (!r.verification.ok) problems.push(r.verification.problem);
  const extraKeys = new Set(results.flatMap((r) => Object.keys(r.extra).filter((k) => typeof r.extra[k] === 'number')));
  const extra: Record<string, number> = {};
  for (const k of extraKeys) extra[k] = median(results.map((r) => r.extra[k] as number));
  return {
    id,
    label,
    system,
    n: results[0]?.n ?? 0,
    runs: results.length,
    verified: results.length > 0 && problems.length === 0,
    problems,
    ...medians(results, E2E_KEYS),
    minMbPerSec: min(results.map((r) => r.mbPerSec)),
    maxMbPerSec: max(results.map((r) => r.mbPerSec)),
    cpuSource: results[0]?.cpuSource ?? 'n/a',
    extra,
  };
}

const DURABLE_KEYS = ['achievedPerSec', 'p50Us', 'p99Us', 'p999Us', 'maxUs', 'fsyncs', 'entries', 'runqWaitMs'] as const;

export interface DurableRow extends Pick<DurableResult, (typeof DURABLE_KEYS)[number]> {
  id: string;
  label: string;
  system: DurableResult['system'];
  offeredPerSec: number;
  runs: number;
  verified: boolean;
  problems: string[];
}

export function aggregateDurable(id: string, label: string, system: DurableResult['system'], offered: number, results: DurableResult[], failures: string[]): DurableRow {
  const problems = [...failures];
  for (const r of results) if (!r.verification.ok) problems.push(r.verification.problem);
  return { id, label, system, offeredPerSec: offered, runs: results.length, verified: results.length > 0 && problems.length === 0, problems, ...medians(results, DURABLE_KEYS) };
}

const ALLOC_KEYS = ['gcs', 'heapGrowthBytes', 'bytesPerAppend', 'cpuNsPerAppend', 'appendsPerSec', 'ringFullWaits'] as const;

export interface AllocRow extends Pick<AllocResult, (typeof ALLOC_KEYS)[number]> {
  id: string;
  label: string;
  shape: AllocResult['shape'];
  n: number;
  runs: number;
  /** Most GCs any repetition saw (a median could hide one). */
  maxGcs: number;
  /** The kinds of every GC seen, over all repetitions, e.g. "major x1". */
  gcKinds: string;
  complete: boolean;
  problems: string[];
  cpuSource: AllocResult['cpuSource'] | 'n/a';
}

export function aggregateAlloc(id: string, label: string, shape: AllocResult['shape'], n: number, results: AllocResult[], failures: string[]): AllocRow {
  const problems = [...failures];
  for (const r of results) if (r.entriesWritten !== r.n) problems.push(`${r.entriesWritten} of ${r.n} entries written`);
  return {
    id,
    label,
    shape,
    n,
    runs: results.length,
    maxGcs: max(results.map((r) => r.gcs)),
    gcKinds: countKinds(results.flatMap((r) => (r.gcKinds ? r.gcKinds.split(',') : []))),
    complete: results.length > 0 && problems.length === 0,
    problems,
    cpuSource: results[0]?.cpuSource ?? 'n/a',
    ...medians(results, ALLOC_KEYS),
  };
}

function countKinds(kinds: string[]): string {
  const c = new Map<string, number>();
  for (const k of kinds) c.set(k, (c.get(k) ?? 0) + 1);
  return [...c].map(([k, n]) => `${k} x${n}`).join(', ');
}
