/**
 * What a bench run does: the settings of the quick (default) and full modes, and the list of cases.
 *
 * quick (`pnpm bench`, also CI): small N, one repetition, about a minute in all.
 * full (`pnpm bench --full`): large N, repetitions (the medians go in the report), 10 M appends for
 * the allocation count, longer durable-ack runs.
 */
import type { E2ESpec } from './types.js';

export type Part = 'micro' | 'e2e' | 'alloc' | 'durable';
export const PARTS: readonly Part[] = ['micro', 'e2e', 'alloc', 'durable'];

export interface Settings {
  mode: 'quick' | 'full';
  /** Entries per end-to-end run. */
  n: number;
  /** Entries for sonic-boom with fsync: true (an fsync per 16 KiB write: far slower, so fewer). */
  fsyncN: number;
  /** Repetitions of each end-to-end case (fresh process each; the report shows medians). */
  reps: number;
  allocN: number;
  allocReps: number;
  durableRates: number[];
  durableSeconds: number;
  /** Seconds at the same offered load before the measured ones, on the same log (JIT, caches, the disk's steady state), not recorded. */
  durableWarmupSeconds: number;
  durableReps: number;
  /** mitata's minimum measured CPU time per micro-benchmark (ms). */
  microMinCpuMs: number;
  parts: Part[];
  /** Shard counts of the shardlog end-to-end matrix. */
  shardCounts: number[];
  /** Also run shardlog's 'lines' format. */
  linesFormat: boolean;
}

export function settingsFor(mode: 'quick' | 'full'): Settings {
  if (mode === 'full') {
    return {
      mode,
      n: 2_000_000,
      fsyncN: 200_000,
      reps: 5,
      allocN: 10_000_000,
      allocReps: 3,
      durableRates: [50_000, 200_000, 1_000_000],
      durableSeconds: 3,
      durableWarmupSeconds: 1,
      durableReps: 3,
      microMinCpuMs: 1000,
      parts: [...PARTS],
      shardCounts: [1, 2, 4],
      linesFormat: true,
    };
  }
  return {
    mode,
    n: 200_000,
    fsyncN: 20_000,
    reps: 1,
    allocN: 2_000_000,
    allocReps: 1,
    durableRates: [50_000, 200_000, 1_000_000],
    durableSeconds: 1,
    durableWarmupSeconds: 0.5,
    durableReps: 1,
    microMinCpuMs: 150,
    parts: [...PARTS],
    shardCounts: [1, 2, 4],
    linesFormat: false,
  };
}

export type E2ECase = Omit<E2ESpec, 'kind' | 'dir' | 'resultFile'>;

/** The case whose file size and batch size the disk baselines copy (run just before them). */
export const BATCH_REFERENCE = 'shardlog-1-batch-ascii';

export function shardlogId(shards: number, sync: 'none' | 'batch', shape: 'ascii' | 'binary', format: 'framed' | 'lines' = 'framed'): string {
  return `shardlog-${shards}-${sync}-${shape}${format === 'lines' ? '-lines' : ''}`;
}

/** The 1 KiB case (JSON strings, one shard, sync 'batch') and the dd run that copies its bytes. */
export const KIB_REFERENCE = 'shardlog-1-batch-json1k';
export const KIB_DD = 'dd-json1k';

/** End-to-end cases of one repetition, in the order they run. */
export function e2eCases(s: Settings): E2ECase[] {
  const out: E2ECase[] = [];
  const shards = (k: number) => `${k} shard${k === 1 ? '' : 's'}`;
  for (const k of s.shardCounts) {
    for (const sync of ['none', 'batch'] as const) {
      for (const shape of ['ascii', 'binary'] as const) {
        out.push({
          id: shardlogId(k, sync, shape),
          label: `shardlog ${shards(k)}, sync ${sync}, ${shape === 'ascii' ? 'string' : 'binary'}`,
          system: 'shardlog',
          n: s.n,
          shape,
          shards: k,
          sync,
        });
        if (k === 1 && sync === 'batch' && shape === 'ascii') {
          // the disk's own limit, right after the run it is compared with
          out.push({ id: 'dd', label: 'dd bs=1M conv=fdatasync (same bytes)', system: 'dd', n: s.n, shape: 'ascii' });
          out.push({ id: 'fdatasync-loop', label: 'node write+fdatasync per batch (same bytes)', system: 'fdatasync-loop', n: s.n, shape: 'ascii' });
        }
      }
    }
  }
  // 1 KiB entries: an eighth as many, so the bytes are about 1.3 times those of the 100-byte runs
  const kibN = Math.max(1, Math.round(s.n / 8));
  out.push({ id: KIB_REFERENCE, label: "shardlog 1 shard, sync batch, 1 KiB JSON string", system: 'shardlog', n: kibN, shape: 'json1k', shards: 1, sync: 'batch' });
  out.push({ id: KIB_DD, label: 'dd bs=1M conv=fdatasync (1 KiB run bytes)', system: 'dd', n: kibN, shape: 'json1k', reference: KIB_REFERENCE });
  if (s.linesFormat) {
    out.push({ id: shardlogId(1, 'none', 'ascii', 'lines'), label: "shardlog 1 shard, sync none, string, format 'lines'", system: 'shardlog', n: s.n, shape: 'ascii', shards: 1, sync: 'none', format: 'lines' });
  }
  out.push({ id: 'sonic-boom', label: 'sonic-boom (async)', system: 'sonic-boom', n: s.n, shape: 'ascii' });
  out.push({ id: 'sonic-boom-fsync', label: 'sonic-boom (fsync: true)', system: 'sonic-boom', n: s.fsyncN, shape: 'ascii', fsync: true });
  out.push({ id: 'pino-destination', label: 'pino + pino.destination (async)', system: 'pino-destination', n: s.n, shape: 'ascii' });
  out.push({ id: 'pino-transport', label: "pino + pino.transport('pino/file')", system: 'pino-transport', n: s.n, shape: 'ascii' });
  out.push({ id: 'thread-stream', label: 'thread-stream (to sonic-boom)', system: 'thread-stream', n: s.n, shape: 'ascii' });
  out.push({ id: 'thread-stream-buffers', label: 'thread-stream fed Buffers (to sonic-boom)', system: 'thread-stream-buffers', n: s.n, shape: 'ascii' });
  out.push({ id: 'fs-stream', label: 'fs.createWriteStream', system: 'fs-stream', n: s.n, shape: 'ascii' });
  return out;
}
