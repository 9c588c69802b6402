/**
 * Options of openLog, checked up front: a bad option is an InvalidArgumentError naming the option,
 * and nothing is created on disk.
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, isPowerOfTwo, resolveEncryption, type EncryptionOptions, type KeyRing, MAX_RING_BYTES, MAX_SHARDS, MIN_RING_BYTES, type SyncPolicy, type TestFaults } from '@shardlog/workers';

export type SyncOption = 'none' | 'batch' | { everyMs: number } | { everyBytes: number };

export interface OpenOptions {
  /** Directory of the log (created if missing). */
  dir: string;
  /** Writer threads, one per shard. Default: one less than the CPU count (a core for the producing thread), 1 to 8; an existing log keeps its count. */
  shards?: number;
  /** Bytes of each shard's ring, a power of two from 64 KiB to 1 GiB. Default 8 MiB. The largest entry is half of it. */
  ringBytes?: number;
  /**
   * When to fdatasync. 'batch' (default): after every batch write, so all producers waiting on a batch
   * share one sync (group commit). 'none': only when someone awaits durable(), and on close.
   * { everyMs }: at most every N ms. { everyBytes }: once N bytes are unsynced, or when someone awaits durable().
   */
  sync?: SyncOption;
  /** Roll to a new segment file once the current one reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  /**
   * A full ring: 'wait' (default) blocks the appending thread until the writer frees room; 'throw'
   * raises RingFullError at once; { waitMs: N } blocks at most N ms for one append, then raises
   * RingFullError (a writer that makes no progress: a hung disk or network filesystem).
   */
  onFull?: 'wait' | 'throw' | { waitMs: number };
  /** 'framed' (default): length + CRC-32C + seq records. 'lines': raw newline-terminated text, for log tools. */
  format?: 'framed' | 'lines';
  /** Most bytes one writev takes from the ring. Default 1 MiB: a batch that stays in L2 is checksummed and written faster (docs/BENCHMARKS.md) (capped at half the ring). */
  maxBatchBytes?: number;
  /** Recovery: skip corrupt records before the tail (counted in log.recovery) instead of refusing to open. */
  skipCorrupt?: boolean;
  /**
   * Recovery's reach. 'tail' (default): check every segment header and scan each shard's last
   * segment, the only one a crash can leave torn; opening costs the same for any log size.
   * 'all': also check every record of every other segment (CRC, order, and that no segment is
   * missing) in parallel on a piscina pool before the writers start; open takes time in proportion
   * to the log's size. The counts go into log.recovery (segmentsScanned, records).
   */
  verify?: 'tail' | 'all';
  /**
   * How long a claimed record may stay unpublished, or a shard's reservation lock stay held, before
   * the log fails with ShardFailedError (ESTALLED): what a producer thread killed mid-append leaves.
   * Both normally last microseconds. Default 30 s (above any GC pause).
   */
  stallTimeoutMs?: number;
  /**
   * On process 'exit' without close() (the script ran out, process.exit(), an uncaught exception),
   * block until everything appended in this thread is durable (at most 10 s; a failure or timeout is
   * written to stderr). Default true. A signal that kills the process skips 'exit': see the pino
   * destination's `signals` for a drain on SIGTERM.
   */
  flushOnExit?: boolean;
  /**
   * The shard writer thread's script, for bundled apps that ship it next to the bundle (a path or a
   * file: URL). Default: globalThis.__bundlerPathsOverrides['shardlog-shard-writer'] if set (the
   * convention of pino's thread-stream), else the file shipped in @shardlog/workers.
   */
  workerUrl?: string | URL;
  /**
   * Encryption at rest (README "Encryption at rest"): every batch frame of new segments is sealed
   * with AES-256-GCM under a key derived from keys[keyId]; every key in `keys` (32 bytes each, ids of
   * 1 to 16 characters [A-Za-z0-9._-]) can open older segments. Framed format only.
   */
  encryption?: EncryptionOptions;
  /** @internal Fault injection for tests. */
  testFaults?: TestFaults;
}

export interface ResolvedOptions {
  dir: string;
  shards: number | undefined;
  ringBytes: number;
  sync: SyncPolicy;
  segmentBytes: number;
  onFull: 'wait' | 'throw';
  /** How long one append may block on a full ring before RingFullError: Infinity for 'wait', 0 for 'throw'. */
  fullWaitMs: number;
  format: 'framed' | 'lines';
  /** Whether the caller chose the format: an existing log opened without one keeps its own. */
  formatGiven: boolean;
  maxBatchBytes: number;
  skipCorrupt: boolean;
  stallTimeoutMs: number;
  flushOnExit: boolean;
  testFaults?: TestFaults;
  verify: 'tail' | 'all';
  workerUrl: string | URL | undefined;
  /** Private copies of the keys: zeroed once the writers have theirs. */
  encryption: KeyRing | undefined;
}

const KNOWN = new Set(['dir', 'shards', 'ringBytes', 'sync', 'segmentBytes', 'onFull', 'format', 'maxBatchBytes', 'skipCorrupt', 'stallTimeoutMs', 'flushOnExit', 'testFaults', 'verify', 'workerUrl', 'encryption']);

export function defaultShards(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
}

/** A value as an error message shows it: NaN and Infinity as themselves (JSON would say null), strings quoted. */
export function shown(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'symbol' || typeof v === 'function' || v === undefined) return String(v);
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    return Object.prototype.toString.call(v); // a cycle
  }
}

function int(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`option ${name} must be an integer from ${min} to ${max}, got ${shown(v)}`);
  }
  return v;
}

export function resolveOptions(o: OpenOptions): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError('openLog takes an options object with at least { dir }');
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new InvalidArgumentError(`unknown option ${k}`);
  if (typeof o.dir !== 'string' || o.dir.length === 0) throw new InvalidArgumentError(`option dir must be a non-empty string, got ${shown(o.dir)}`);
  if (o.dir.includes('\0')) throw new InvalidArgumentError(`option dir must not contain a NUL character, got ${shown(o.dir)}`);
  const shards = o.shards === undefined ? undefined : int('shards', o.shards, 1, MAX_SHARDS);
  const ringBytes = o.ringBytes === undefined ? 8 * 1024 * 1024 : int('ringBytes', o.ringBytes, MIN_RING_BYTES, MAX_RING_BYTES);
  if (!isPowerOfTwo(ringBytes)) throw new InvalidArgumentError(`option ringBytes must be a power of two, got ${ringBytes}`);
  let sync: SyncPolicy;
  const s = o.sync ?? 'batch';
  if (s === 'none' || s === 'batch') sync = { kind: s };
  else if (s && typeof s === 'object' && 'everyMs' in s && Object.keys(s).length === 1) sync = { kind: 'ms', value: int('sync.everyMs', s.everyMs, 1, 3_600_000) };
  else if (s && typeof s === 'object' && 'everyBytes' in s && Object.keys(s).length === 1) sync = { kind: 'bytes', value: int('sync.everyBytes', s.everyBytes, 1, 2 ** 40) };
  else throw new InvalidArgumentError(`option sync must be 'none', 'batch', { everyMs: N } or { everyBytes: N }, got ${shown(s)}`);
  const segmentBytes = o.segmentBytes === undefined ? 64 * 1024 * 1024 : int('segmentBytes', o.segmentBytes, 4096, 2 ** 40);
  const full = o.onFull === undefined ? 'wait' : o.onFull;
  let onFull: 'wait' | 'throw';
  let fullWaitMs: number;
  if (full === 'wait' || full === 'throw') {
    onFull = full;
    fullWaitMs = full === 'wait' ? Infinity : 0;
  } else if (full !== null && typeof full === 'object' && Object.keys(full).length === 1 && 'waitMs' in full) {
    onFull = 'wait';
    fullWaitMs = int('onFull.waitMs', full.waitMs, 1, 2 ** 31 - 1);
  } else throw new InvalidArgumentError(`option onFull must be 'wait', 'throw' or { waitMs: N }, got ${shown(full)}`);
  const format = o.format ?? 'framed';
  if (format !== 'framed' && format !== 'lines') throw new InvalidArgumentError(`option format must be 'framed' or 'lines', got ${shown(format)}`);
  const maxBatchBytes = o.maxBatchBytes === undefined ? 1024 * 1024 : int('maxBatchBytes', o.maxBatchBytes, 4096, MAX_RING_BYTES);
  if (o.skipCorrupt !== undefined && typeof o.skipCorrupt !== 'boolean') throw new InvalidArgumentError('option skipCorrupt must be a boolean');
  const verify = o.verify ?? 'tail';
  if (verify !== 'tail' && verify !== 'all') throw new InvalidArgumentError(`option verify must be 'tail' or 'all', got ${shown(verify)}`);
  const stallTimeoutMs = o.stallTimeoutMs === undefined ? 30_000 : int('stallTimeoutMs', o.stallTimeoutMs, 10, 2 ** 31 - 1);
  if (o.flushOnExit !== undefined && typeof o.flushOnExit !== 'boolean') throw new InvalidArgumentError('option flushOnExit must be a boolean');
  const workerUrl = o.workerUrl;
  if (workerUrl !== undefined && !(workerUrl instanceof URL) && (typeof workerUrl !== 'string' || workerUrl.length === 0)) {
    throw new InvalidArgumentError(`option workerUrl must be a file path or a URL, got ${shown(workerUrl)}`);
  }
  const encryption = o.encryption === undefined ? undefined : resolveEncryption(o.encryption, true);
  if (encryption && format !== 'framed') throw new InvalidArgumentError("option encryption needs format 'framed' (lines segments are plain text for log tools)");
  if (encryption && o.testFaults?.segmentVersion === 1) throw new InvalidArgumentError('option encryption needs segment format version 2');
  return { workerUrl, encryption, flushOnExit: o.flushOnExit ?? true, dir: o.dir, shards, ringBytes, sync, segmentBytes, onFull, fullWaitMs, format, formatGiven: o.format != null, maxBatchBytes, skipCorrupt: o.skipCorrupt ?? false, stallTimeoutMs, testFaults: o.testFaults, verify };
}
