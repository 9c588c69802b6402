/**
 * The stress runner's options: types, defaults, and the parsers for the CLI's compact forms
 * (sizes like `heavy:64-1m`, durations like `10s`, sync like `ms:5`). A bad value is an
 * InvalidArgumentError naming the option, so `shardlog stress` exits 2 with a clear message.
 */
import { InvalidArgumentError } from '@shardlog/workers';
import type { SyncOption } from '@shardlog/core';
import { MAX_TIMER_MS } from '../args.js';

/** Entry sizes in bytes (the payload, which includes the stress header). */
export type SizeDist =
  | { kind: 'fixed'; bytes: number }
  | { kind: 'uniform'; min: number; max: number }
  /** Truncated Pareto (alpha 1.2) from min to max; max `undefined` means the log's largest entry. */
  | { kind: 'heavy'; min: number; max: number | undefined };

export type TearMode = 'tail' | 'synced';

export interface StressOptions {
  /** Run this long (ms). Default 5000 unless `entries` is set. */
  durationMs?: number;
  /** Or append this many entries in all (split evenly over the producers). */
  entries?: number;
  shards: number;
  /** Producer threads besides the main thread (which always appends too). */
  producers: number;
  size: SizeDist;
  kind: 'binary' | 'string';
  sync: SyncOption;
  /** Target entries per second over all producers; 0 = as fast as possible. */
  rate: number;
  seed: number;
  /** Parent directory for the run's log (a fresh subdirectory is made in it). Default: os.tmpdir(). */
  dir?: string;
  /** Keep the log directory after the run. */
  keep: boolean;
  ringBytes?: number;
  segmentBytes?: number;
  /** Which producer API the load uses: append(), appendMany(), or a seeded mix of both. */
  api: 'append' | 'many' | 'mixed';
  /** Call durable() at most every N ms per producer (0: after every burst of appends). */
  ackMs: number;
  /** Fault: fork a writer child and SIGKILL it at this moment (ms after its load starts), or at a seeded random one. */
  killAt?: number | 'random';
  /** Kill / recover / verify cycles on the same log (kill mode). */
  cycles: number;
  /** Fault: after the kill, damage a last segment ('tail': only unacknowledged bytes; 'synced': an acknowledged record). */
  tear?: TearMode;
  /** Fault: run on a small filesystem of the runner's own until ENOSPC, free space, recover. */
  fullDisk: boolean;
  /** Size of that filesystem in bytes. */
  diskBytes: number;
  /** Fault: every shard writer thread exits after this many batches. */
  writerExit?: number;
  /** How long a producer may stay stuck (no durable() settled, no append returned) before the run reports a hang. */
  hangMs: number;
}

export const DEFAULTS: StressOptions = {
  shards: 2,
  producers: 2,
  size: { kind: 'uniform', min: 32, max: 512 },
  kind: 'binary',
  sync: 'batch',
  rate: 0,
  seed: 0,
  keep: false,
  api: 'mixed',
  ackMs: 0,
  cycles: 1,
  fullDisk: false,
  diskBytes: 48 * 1024 * 1024,
  hangMs: 15_000,
};

/** Full-disk mode fills its filesystem down to this much free space: the room the log has before ENOSPC. */
export const FULL_DISK_HEADROOM = 4 * 1024 * 1024;
/** The smallest --disk-size: the headroom, plus at least 1 MiB for the filler to take. */
export const MIN_DISK_BYTES = FULL_DISK_HEADROOM + 1024 * 1024;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** `4096`, `64k`, `1m`, `2MiB` → bytes. */
export function parseBytes(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`${name}: '${v}' is not a byte count (examples: 512, 64k, 1m)`);
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name}: '${v}' is out of range`);
  return n;
}

/** `500ms`, `10s`, `10m`, `1h`, or a plain number of seconds → ms. */
export function parseDuration(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|)$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`${name}: '${v}' is not a duration (examples: 500ms, 10s, 10m)`);
  const mult = { ms: 1, s: 1000, '': 1000, m: 60_000, min: 60_000, h: 3_600_000 }[m[2].toLowerCase()]!;
  const ms = Math.round(Number(m[1]) * mult);
  if (ms > MAX_TIMER_MS) throw new InvalidArgumentError(`${name}: '${v}' is too long: at most ${MAX_TIMER_MS} ms (about 24.8 days, the most Node's timers allow)`);
  if (!(ms > 0)) throw new InvalidArgumentError(`${name}: '${v}' must be more than zero`);
  return ms;
}

/** `fixed:N`, `uniform:A-B`, `heavy:A`, `heavy:A-B` (B may be `max`). */
export function parseSize(v: string): SizeDist {
  const m = /^(fixed|uniform|heavy):([^-]+)(?:-(.+))?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`--size: '${v}' is not fixed:N, uniform:A-B or heavy:A[-B]`);
  const a = parseBytes('--size', m[2]);
  const b = m[3] === undefined || m[3] === 'max' ? undefined : parseBytes('--size', m[3]);
  switch (m[1]) {
    case 'fixed':
      if (m[3] !== undefined) throw new InvalidArgumentError(`--size: fixed takes one size, got '${v}'`);
      return { kind: 'fixed', bytes: a };
    case 'uniform':
      if (b === undefined) throw new InvalidArgumentError(`--size: uniform needs A-B, got '${v}'`);
      return { kind: 'uniform', min: a, max: b };
    default:
      return { kind: 'heavy', min: a, max: b };
  }
}

/** The smallest and largest entry a distribution can produce, once the log's largest entry is known. */
export function resolveSize(size: SizeDist, headerBytes: number, maxEntryBytes: number): SizeDist {
  const check = (what: string, n: number) => {
    if (n < headerBytes) throw new InvalidArgumentError(`--size: ${what} ${n} is smaller than the ${headerBytes}-byte stress header every entry carries`);
    if (n > maxEntryBytes) throw new InvalidArgumentError(`--size: ${what} ${n} is larger than the log's largest entry (${maxEntryBytes} bytes; raise --ring)`);
  };
  switch (size.kind) {
    case 'fixed':
      check('size', size.bytes);
      return size;
    case 'uniform':
      check('min', size.min);
      check('max', size.max);
      if (size.min > size.max) throw new InvalidArgumentError(`--size: min ${size.min} is above max ${size.max}`);
      return size;
    case 'heavy': {
      const max = size.max ?? maxEntryBytes;
      check('min', size.min);
      check('max', max);
      if (size.min > max) throw new InvalidArgumentError(`--size: min ${size.min} is above max ${max}`);
      return { kind: 'heavy', min: size.min, max };
    }
  }
}

export function formatSize(s: SizeDist): string {
  if (s.kind === 'fixed') return `fixed:${s.bytes}`;
  if (s.kind === 'uniform') return `uniform:${s.min}-${s.max}`;
  return `heavy:${s.min}-${s.max ?? 'max'}`;
}

/** `none`, `batch`, `ms:N`, `bytes:N`. */
export function parseSync(v: string): SyncOption {
  if (v === 'none' || v === 'batch') return v;
  const m = /^(ms|bytes):(.+)$/.exec(v);
  if (m && m[1] === 'ms') return { everyMs: Math.max(1, parseDuration('--sync', m[2].match(/[a-z]$/i) ? m[2] : `${m[2]}ms`)) };
  if (m && m[1] === 'bytes') return { everyBytes: parseBytes('--sync', m[2]) };
  throw new InvalidArgumentError(`--sync: '${v}' is not none, batch, ms:N or bytes:N`);
}

export function formatSync(s: SyncOption): string {
  if (typeof s === 'string') return s;
  return 'everyMs' in s ? `ms:${s.everyMs}` : `bytes:${s.everyBytes}`;
}

/**
 * `unbounded` or a number of entries per second (`50k`, `1m` allowed), at least 1. Unbounded is 0 in
 * StressOptions, but `--rate 0` (or a rate that rounds to 0) is refused: it reads as "nothing".
 */
export function parseRate(v: string): number {
  if (v === 'unbounded' || v === 'max') return 0;
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`--rate: '${v}' is not 'unbounded' or a number of entries per second (e.g. 50000, 50k)`);
  const rate = Math.round(Number(m[1]) * (m[2] === '' ? 1 : m[2].toLowerCase() === 'k' ? 1000 : 1_000_000));
  if (!Number.isSafeInteger(rate) || rate < 1) throw new InvalidArgumentError(`--rate: '${v}' must be at least 1 entry per second; for no limit, say --rate unbounded`);
  return rate;
}

export function parseInt10(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${name}: '${v}' must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** Cross-option checks. */
export function validate(o: StressOptions): void {
  const faults = [o.killAt !== undefined || o.tear !== undefined, o.fullDisk, o.writerExit !== undefined].filter(Boolean).length;
  if (faults > 1) throw new InvalidArgumentError('choose one fault mode: --kill-at/--tear, --full-disk or --writer-exit');
  if (o.cycles > 1 && o.killAt === undefined && o.tear === undefined) throw new InvalidArgumentError('--cycles needs --kill-at or --tear');
  if (o.durationMs !== undefined && o.entries !== undefined) throw new InvalidArgumentError('give --duration or --entries, not both');
  if ((o.killAt !== undefined || o.tear !== undefined) && o.entries !== undefined && o.killAt === 'random') {
    throw new InvalidArgumentError('--kill-at random picks a moment within --duration; with --entries give --kill-at TIME');
  }
  if (typeof o.killAt === 'number' && o.entries === undefined && o.killAt >= (o.durationMs ?? 5000)) {
    // the writer child would finish before the kill: a bad combination, not a failed run
    throw new InvalidArgumentError(`--kill-at ${o.killAt}ms is not within --duration (${o.durationMs ?? 5000}ms): the child would finish first`);
  }
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new InvalidArgumentError(`--seed must be a non-negative integer, got ${o.seed}`);
  if (o.fullDisk && o.diskBytes < MIN_DISK_BYTES) {
    throw new InvalidArgumentError(`--disk-size ${o.diskBytes} is too small: at least ${MIN_DISK_BYTES} bytes (5m), the ${FULL_DISK_HEADROOM / 1024 / 1024} MiB left free for the log plus room for the filler`);
  }
}
