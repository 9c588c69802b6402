/**
 * A log manager's defaults that depend on the process: the pool size, and how many logs may be
 * open at once without running out of file descriptors (from the soft RLIMIT_NOFILE, read from
 * /proc/self/limits where there is one).
 */
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';

/** Default number of writer threads: one less than the CPU count (at least 1). */
export function defaultWriters(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** The soft limit on open file descriptors, or undefined if unknown. */
export function softFdLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m && m[1] !== 'unlimited') return Number(m[1]);
  } catch {
    // no /proc: unknown
  }
  return undefined;
}

/** Upper bound on the default cap, whatever the descriptor limit. */
const MAX_DEFAULT_OPEN_LOGS = 4096;

/**
 * The default cap on open logs: what fits in the descriptor limit, counting per shard its segment
 * file and one for a directory fsync or a roll in flight, and keeping room for the process's own
 * descriptors and each pool thread's event loop.
 */
export function defaultMaxOpenLogs(shards: number, writers: number): number {
  const limit = softFdLimit();
  if (limit === undefined) return 1024;
  const reserve = 64 + 8 * writers;
  return Math.max(1, Math.min(MAX_DEFAULT_OPEN_LOGS, Math.floor((limit - reserve) / (2 * shards))));
}
