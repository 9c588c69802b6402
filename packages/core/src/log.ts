/**
 * openLog and the Log: starts one writer thread per shard, recovers, and hands out producers.
 * The Log is itself the main thread's producer (append/appendMany/durable come from Producer).
 */
import { copyReadKeys, type ReadKeys } from './reader.js';
import {
  B_BATCHES,
  B_DURABLE,
  B_ENTRIES,
  B_FILE_BYTES,
  B_FSYNCS,
  B_LAST_SEQ,
  B_PAYLOAD,
  B_SEGMENTS,
  B_WRITEV,
  B_WRITTEN,
  createRing,
  deserializeError,
  failShard,
  G_STATE,
  GLOBAL_BYTES,
  I_FULL_WAITS,
  I_STATE,
  I_TAIL,
  InvalidArgumentError,
  LogClosedError,
  ShardFailedError,
  STATE_CLOSED,
  STATE_CLOSING,
  STATE_FAILED,
  STATE_RUNNING,
  type SerializedError,
  type ShardRecovery,
  type ShardWriterData,
  zeroKeyRing,
} from '@shardlog/workers';
import { registerExitFlush, unregisterExitFlush } from './integrations/exit-flush.js';
import { acquireLock } from './lock.js';
import { asOpenError, prepareLogDir } from './log-dir.js';
import { manifestAtOpen } from './log-manifest.js';
import { resolveOptions, type OpenOptions, type ResolvedOptions } from './options.js';
import { Producer, type ProducerHandle } from './producer.js';
import { initSeq, peekSeq } from './sequence.js';
import { checkFollowOptions, followLog, type FollowOptions } from './follow.js';
import type { LogEntry } from './reader.js';
import { truncateSegmentsBefore, type RetentionResult } from './retention.js';
import { verifyBeforeOpen } from './verify.js';
import { assertScriptExists, spawnWriter, startWriters, startWritersSync, writerScript, type ShardHandle } from './writers.js';

export interface ShardStats {
  shard: number;
  /** Entries written to files. */
  entries: number;
  /** Payload bytes of those entries. */
  payloadBytes: number;
  /** Bytes written to files (record headers, padding to 8 bytes and segment headers included). */
  fileBytes: number;
  batches: number;
  writevCalls: number;
  fsyncs: number;
  /** entries / batches. */
  meanBatchEntries: number;
  /** Times a producer found this ring full. */
  ringFullWaits: number;
  segments: number;
  /** Ring bytes claimed by producers and not yet written. */
  pendingBytes: number;
  /** Ring bytes written but not yet fdatasynced (the durable lag). */
  durableLagBytes: number;
  lastSeq: number;
  state: 'starting' | 'running' | 'closing' | 'closed' | 'failed';
}

export interface LogStats {
  state: ShardStats['state'];
  /** The sequence number the next append gets. */
  nextSeq: number;
  entries: number;
  payloadBytes: number;
  fileBytes: number;
  batches: number;
  writevCalls: number;
  fsyncs: number;
  meanBatchEntries: number;
  ringFullWaits: number;
  /** Segment files written by every shard (the sum). */
  segments: number;
  /** Ring bytes claimed and not yet written, over every shard. */
  pendingBytes: number;
  durableLagBytes: number;
  /** The highest seq written to any shard (0: none yet). */
  lastSeq: number;
  shards: ShardStats[];
}

const STATES = ['starting', 'running', 'closing', 'closed', 'failed'] as const;

export class Log extends Producer {
  /** The log's directory: its real, absolute path, resolved once at open. */
  readonly dir: string;
  /** The log's id: a random UUID kept in its manifest, the same for every open of this log. */
  readonly id: string;
  readonly format: 'framed' | 'lines';
  /** What recovery found and cut, per shard. */
  readonly recovery: ShardRecovery[];
  private readonly handle: ProducerHandle;
  private readonly shardHandles: ShardHandle[];
  private readonly release: () => void;
  private closing: Promise<void> | undefined;
  private nextProducer = 1;
  private readonly onExit = (): void => {
    // The process is exiting without close(): the writer threads still run during 'exit', so make
    // everything appended durable before they are stopped (best effort: a failed log stays failed).
    if (Atomics.load(this.g32, G_STATE) !== STATE_RUNNING) return;
    let problem: string | undefined;
    try {
      if (!this.durableSync(this.exitSyncMs)) problem = `not durable after ${this.exitSyncMs} ms`;
    } catch (e) {
      problem = (e as Error).message;
    }
    // nothing more can be done while exiting, but say so: entries appended were not made durable
    if (problem) process.stderr.write(`shardlog: at exit, the log in ${this.dir} was not flushed: ${problem}\n`);
  };
  private exitSyncMs = 10_000;

  /** @internal The process is exiting: make what was appended durable (a log manager's one exit hook calls it). */
  flushAtExit(): void {
    this.onExit();
  }

  /** @internal The shared exit hook (exit-flush.ts): one 'exit' listener however many logs are open. */
  flushOnExit(): void {
    this.onExit();
  }

  /** @internal use openLog */
  /** @internal An encrypted log: the keys follow() opens segments with (zeroed at close). */
  readKeys: ReadKeys | undefined;

  constructor(handle: ProducerHandle, dir: string, shards: ShardHandle[], recovery: ShardRecovery[], release: () => void, flushOnExit = true, id = '') {
    super(handle);
    this.handle = handle;
    this.dir = dir;
    this.id = id;
    this.format = handle.format;
    this.shardHandles = shards;
    this.recovery = recovery;
    this.release = release;
    this.seqNext = peekSeq(this.g32);
    this.exclusive = true;
    // Writer threads do not keep the process alive (a script that forgets close() still ends), and an
    // exiting process makes what it appended durable first. Pending durable() calls keep it alive.
    for (const s of shards) s.worker.unref();
    if (flushOnExit) registerExitFlush(this, true);
    for (const [i, s] of shards.entries()) {
      s.worker.on('message', (m: { type?: string; error?: SerializedError }) => {
        if (m && m.type === 'failed' && m.error) this.markFailed(i, deserializeError(m.error));
      });
      s.worker.on('error', (e) => this.markFailed(i, e));
      void s.exited.then((code) => {
        if (Atomics.load(s.i32, I_STATE) !== STATE_CLOSED && !this.failureCause) {
          this.markFailed(i, new Error(`writer thread of shard ${i} exited unexpectedly (code ${code})`));
        }
      });
    }
  }

  private markFailed(shard: number, cause: Error): void {
    if (!this.failureCause) this.failureCause = cause;
    const code = (cause as { code?: unknown }).code;
    failShard(this.shardHandles[shard].i32, this.g32, typeof code === 'string' ? code : 'UNKNOWN');
  }

  /** Why the log failed, if it did. */
  get failure(): Error | undefined {
    return Atomics.load(this.g32, G_STATE) === STATE_FAILED ? this.failureError() : undefined;
  }

  /**
   * A handle other threads pass to attachProducer() to append into this log's rings. It holds only
   * SharedArrayBuffers and plain fields, so it goes through workerData or postMessage as is.
   */
  producerHandle(): ProducerHandle {
    this.share(); // from now on other threads may append: take the lock and the shared counter
    return { ...this.handle, firstShard: this.nextProducer++ % this.shards };
  }

  /**
   * Close (and sync) every shard's segment file; each shard's next write starts a new one. What this
   * thread appended before the call is written first, so it stays in the old segments (a rotation
   * is a point in this thread's stream of appends, whatever the writer threads had got to).
   */
  async rotate(): Promise<void> {
    this.assertOpen();
    await this.durable();
    await this.control(() => Promise.all(this.shardHandles.map((s) => s.rpc.rotate())));
  }

  private pendingControl = 0;
  /**
   * Run a control-plane call. The writer threads are unref'd, and a message port does not keep the
   * event loop alive either: hold a ref while a call is pending, or the process could exit under it.
   */
  private async control<T>(f: () => Promise<T>): Promise<T> {
    if (this.pendingControl++ === 0) for (const s of this.shardHandles) s.worker.ref();
    try {
      return await f();
    } finally {
      if (--this.pendingControl === 0 && !this.closing) for (const s of this.shardHandles) s.worker.unref();
    }
  }

  private assertOpen(): void {
    const st = Atomics.load(this.g32, G_STATE);
    if (st !== STATE_RUNNING) this.throwState();
  }

  /** Counters, read from shared memory (no message round trip). */
  stats(): LogStats {
    const shards: ShardStats[] = this.shardHandles.map((s, shard) => {
      const rd = (i: number) => Number(Atomics.load(s.b64, i));
      const entries = rd(B_ENTRIES);
      const batches = rd(B_BATCHES);
      const written = rd(B_WRITTEN);
      const tail = Atomics.load(s.i32, I_TAIL);
      return {
        shard,
        entries,
        payloadBytes: rd(B_PAYLOAD),
        fileBytes: rd(B_FILE_BYTES),
        batches,
        writevCalls: rd(B_WRITEV),
        fsyncs: rd(B_FSYNCS),
        meanBatchEntries: batches ? entries / batches : 0,
        ringFullWaits: Atomics.load(s.i32, I_FULL_WAITS) >>> 0,
        segments: rd(B_SEGMENTS),
        pendingBytes: (tail - (written % 4294967296 | 0)) | 0,
        durableLagBytes: written - rd(B_DURABLE),
        lastSeq: rd(B_LAST_SEQ),
        state: STATES[Atomics.load(s.i32, I_STATE)] ?? 'failed',
      };
    });
    const sum = (k: keyof ShardStats) => shards.reduce((a, s) => a + (s[k] as number), 0);
    const entries = sum('entries');
    const batches = sum('batches');
    return {
      state: STATES[Atomics.load(this.g32, G_STATE)] ?? 'failed',
      nextSeq: this.nextSeq,
      entries,
      payloadBytes: sum('payloadBytes'),
      fileBytes: sum('fileBytes'),
      batches,
      writevCalls: sum('writevCalls'),
      fsyncs: sum('fsyncs'),
      meanBatchEntries: batches ? entries / batches : 0,
      ringFullWaits: sum('ringFullWaits'),
      segments: sum('segments'),
      pendingBytes: sum('pendingBytes'),
      durableLagBytes: sum('durableLagBytes'),
      lastSeq: Math.max(0, ...shards.map((x) => x.lastSeq)),
      shards,
    };
  }

  /**
   * Stop taking appends, let every writer drain and sync what was appended, stop the threads and
   * release the lock. Everything appended before close() is durable when it resolves. Rejects (after
   * releasing everything) if a shard had failed. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    for (const s of this.shardHandles) s.worker.ref(); // stay alive until the writers are done
    unregisterExitFlush(this);
    const wasFailed = Atomics.load(this.g32, G_STATE) === STATE_FAILED;
    if (!wasFailed) Atomics.store(this.g32, G_STATE, STATE_CLOSING);
    let firstError: Error | undefined = wasFailed ? this.failureError() : undefined;
    const results = await Promise.all(
      this.shardHandles.map(async (s, i) => {
        try {
          const r = await Promise.race([s.rpc.close(), s.exited.then(() => ({ ok: false, error: undefined }))]);
          if (!r.ok) {
            const cause = r.error ? deserializeError(r.error) : (this.failureCause ?? Object.assign(new Error(`writer thread of shard ${i} exited`), { code: 'WORKER_EXIT' }));
            return new ShardFailedError(i, cause.message, { cause });
          }
        } catch (e) {
          return e as Error;
        }
        return undefined;
      }),
    );
    for (const e of results) if (e && !firstError) firstError = e;
    await Promise.all(this.shardHandles.map((s) => s.worker.terminate()));
    this.release();
    zeroKeyRing(this.readKeys?.keys);
    if (firstError) {
      Atomics.store(this.g32, G_STATE, STATE_FAILED);
      if (!this.failureCause) this.failureCause = firstError;
      throw firstError;
    }
    Atomics.store(this.g32, G_STATE, STATE_CLOSED);
    Atomics.notify(this.g32, G_STATE);
  }

  /**
   * Retention: remove every segment that holds nothing at or after `seq` (whole segments only; a
   * shard's segment being written is never removed), fsync the shard directories, and say what was
   * removed. Entries below `seq` in the segments that remain are still readable.
   */
  async truncateBefore(seq: number): Promise<RetentionResult> {
    this.assertOpen();
    return truncateSegmentsBefore(this.dir, this.shards, this.format, seq);
  }

  /**
   * Entries as they become durable (fdatasynced), in global seq order, from `fromSeq` (default: the
   * next seq, so only new entries). Ends after the last entry once the log is closed; throws the
   * failure if the log fails. Framed format only. With sync: 'none' entries become durable only when
   * someone awaits durable(), and on close.
   */
  follow(options: FollowOptions = {}): AsyncGenerator<LogEntry> {
    if (this.format !== 'framed') throw new InvalidArgumentError(`follow() reads framed logs; ${this.dir} is in '${this.format}' format`);
    checkFollowOptions(options); // unknown keys, skipCorrupt and onSkip
    const fromSeq = options.fromSeq ?? this.nextSeq;
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) throw new InvalidArgumentError(`fromSeq must be a non-negative integer, got ${String(fromSeq)}`);
    this.assertOpen();
    const src = { dir: this.dir, rings: this.handle.rings, global: this.handle.global, nextSeq: () => this.nextSeq, failure: () => this.failure, keys: this.readKeys && copyReadKeys(this.readKeys) };
    return followLog(src, fromSeq, options);
  }
}

/** Open (creating or recovering) a log. Resolves once every shard has recovered and its writer runs. */
export async function openLog(options: OpenOptions): Promise<Log> {
  return openLogWith(resolveOptions(options)); // async: a bad option rejects, never throws
}

/** @internal openLog with its writers started by `spawn` (default: a thread each; a log manager passes its pool's). */
export async function openLogWith(o: ResolvedOptions, spawn?: (data: ShardWriterData) => ShardHandle): Promise<Log> {
  if (!spawn) assertScriptExists(writerScript(o.workerUrl)); // before anything is created
  const dir = prepareLogDir(o.dir); // real and absolute: retention, follow and close use it, whatever chdir() does later
  let release: () => void;
  try {
    release = acquireLock(dir);
  } catch (e) {
    throw asOpenError(e, dir);
  }
  let opening: OpeningLog;
  try {
    const manifest = manifestAtOpen(dir, o.format, o.shards, o.formatGiven);
    o = withFormat(o, manifest.format);
    const verified = o.verify === 'all' && o.format === 'framed' ? await verifyBeforeOpen(dir, manifest.shards, o.skipCorrupt, o.encryption && { keys: o.encryption, logId: manifest.id }) : undefined;
    opening = new OpeningLog(o, dir, manifest, release, verified, spawn);
  } catch (e) {
    release();
    zeroKeyRing(o.encryption);
    throw asOpenError(e, dir);
  }
  return opening.finish();
}

/**
 * Open (creating or recovering) a log synchronously: returns once every shard has recovered and its
 * writer runs, blocking the thread meanwhile (Atomics.wait, at most stallTimeoutMs). Errors are
 * those of openLog (LogLockedError, CorruptLogError, WriterStartError, ...). verify: 'all' is not
 * available here (it verifies on a thread pool, asynchronously).
 */
export function openLogSync(options: OpenOptions): Log {
  return beginOpen(options, true).finishSync();
}

/**
 * @internal The synchronous first half of an open (directory, lock, manifest, writer threads
 * spawned): the rest ends with finish() or, blocking, finishSync(). verify: 'all' is refused.
 */
export function beginOpen(options: OpenOptions, sync: boolean): OpeningLog {
  let o: ResolvedOptions = resolveOptions(options);
  if (o.verify === 'all') throw new InvalidArgumentError(`option verify: 'all' needs the asynchronous openLog()${sync ? '' : ' here'}`);
  assertScriptExists(writerScript(o.workerUrl)); // before anything is created
  const dir = prepareLogDir(o.dir);
  let release: () => void;
  try {
    release = acquireLock(dir);
  } catch (e) {
    throw asOpenError(e, dir);
  }
  try {
    const manifest = manifestAtOpen(dir, o.format, o.shards, o.formatGiven);
    o = withFormat(o, manifest.format);
    return new OpeningLog(o, dir, manifest, release, undefined);
  } catch (e) {
    release();
    zeroKeyRing(o.encryption);
    throw asOpenError(e, dir);
  }
}

/** The options with the log's own format (an existing log opened without `format` keeps its own). */
function withFormat(o: ResolvedOptions, format: ResolvedOptions['format']): ResolvedOptions {
  if (format === o.format) return o;
  if (o.encryption) throw new InvalidArgumentError(`option encryption needs format 'framed'; the log in ${o.dir} is in '${format}' format`);
  return { ...o, format };
}

/** @internal A log whose writer threads are starting (recovering their shards). */
export class OpeningLog {
  private readonly handles: ShardHandle[] = [];
  private readonly global = new SharedArrayBuffer(GLOBAL_BYTES);
  private readonly rings: SharedArrayBuffer[] = [];
  private outcome: { log: Log } | { error: unknown } | undefined;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly dir: string,
    private readonly manifest: { shards: number; id: string },
    private readonly release: () => void,
    private readonly verified: Awaited<ReturnType<typeof verifyBeforeOpen>> | undefined,
    spawn?: (data: ShardWriterData) => ShardHandle,
  ) {
    const script = writerScript(o.workerUrl);
    const startWords = new SharedArrayBuffer(4 * manifest.shards);
    try {
      for (let s = 0; s < manifest.shards; s++) {
        const ring = createRing(o.ringBytes, o.stallTimeoutMs, o.testFaults?.ringStart);
        this.rings.push(ring);
        const wd: ShardWriterData = {
          ring,
          global: this.global,
          shard: s,
          dir,
          format: o.format,
          sync: o.sync,
          segmentBytes: o.segmentBytes,
          maxBatchBytes: o.maxBatchBytes,
          skipCorrupt: o.skipCorrupt,
          testFaults: o.testFaults,
          encryption: o.encryption ? { keyId: o.encryption.keyId!, keys: Object.fromEntries(o.encryption.keys), logId: manifest.id } : undefined,
        };
        this.handles.push(spawn ? spawn(wd) : spawnWriter(wd, script, startWords));
      }
    } catch (e) {
      for (const h of this.handles) void h.worker.terminate();
      throw e;
    }
  }

  /** Wait (asynchronously) for the writers: the open log, or the open's error. */
  async finish(): Promise<Log> {
    let recovery: ShardRecovery[] | undefined;
    let error: unknown;
    try {
      recovery = await startWriters(this.handles);
    } catch (e) {
      error = e;
    }
    const stopped = this.settle(recovery, error);
    if (stopped) {
      await stopped;
      this.release();
    }
    return this.result();
  }

  /** Block until the writers have started (at most `timeoutMs`): the open log, or throws the open's error. */
  finishSync(timeoutMs = this.o.stallTimeoutMs): Log {
    if (this.outcome) return this.result();
    let recovery: ShardRecovery[] | undefined;
    let error: unknown;
    try {
      recovery = startWritersSync(this.handles, timeoutMs);
    } catch (e) {
      error = e;
    }
    if (this.settle(recovery, error)) this.release(); // the threads end in the background
    return this.result();
  }

  /** True once the open has ended one way or the other. */
  get settled(): boolean {
    return this.outcome !== undefined;
  }

  /** Record the outcome (unless the other wait got there first); on failure, the threads' termination. */
  private settle(recovery: ShardRecovery[] | undefined, error: unknown): Promise<unknown> | undefined {
    if (this.outcome) return undefined;
    if (recovery) {
      try {
        this.outcome = { log: this.build(recovery) };
        return undefined;
      } catch (e) {
        error = e;
      }
    }
    this.outcome = { error: asOpenError(error, this.dir) };
    zeroKeyRing(this.o.encryption);
    return Promise.all(this.handles.map((s) => s.worker.terminate()));
  }

  private result(): Log {
    const r = this.outcome!;
    if ('error' in r) throw r.error;
    return r.log;
  }

  private build(started: ShardRecovery[]): Log {
    const recovery = withVerifyCounts(started, this.verified);
    const g32 = new Int32Array(this.global);
    initSeq(g32, firstSeq(this.o.format, recovery));
    Atomics.store(g32, G_STATE, STATE_RUNNING);
    const handle: ProducerHandle = { rings: this.rings, global: this.global, format: this.o.format, onFull: this.o.onFull, fullWaitMs: this.o.fullWaitMs, firstShard: 0 };
    const log = new Log(handle, this.dir, this.handles, recovery, this.release, this.o.flushOnExit, this.manifest.id);
    if (this.o.encryption) log.readKeys = { keys: this.o.encryption, logId: this.manifest.id }; // for follow(); zeroed at close
    return log;
  }
}

/** The writers' recovery reports, with verify's counts added. */
function withVerifyCounts(recovery: ShardRecovery[], verified: Awaited<ReturnType<typeof verifyBeforeOpen>> | undefined): ShardRecovery[] {
  if (verified) {
    for (const [s, v] of verified.entries()) {
      recovery[s].segmentsScanned += v.segments;
      recovery[s].records += v.records;
      recovery[s].skippedRegions += v.skippedRegions;
      recovery[s].skippedBytes += v.skippedBytes;
    }
  }
  return recovery;
}

/** The sequence number the reopened log continues from: above every seq the shards ever used. */
function firstSeq(format: 'framed' | 'lines', recovery: ShardRecovery[]): number {
  let next = 1;
  if (format === 'framed') {
    // Never below a last segment's name either: a segment whose records a crash cut entirely is
    // appended to again, and a seq below its name would later give a segment named lower than it.
    for (const r of recovery) next = Math.max(next, r.lastSeq + 1, r.tail ? r.tail.firstSeq : 0);
  } else {
    // Lines carry no sequence numbers: every seq after the newest segment's first one lives in
    // some shard's last segment, so that name plus all their lines bounds what was ever used. The
    // newest segment's own first line has the seq it is named after (it is among the lines counted);
    // if a crash cut all its lines, every counted line may lie above its name.
    let maxFirst = 0;
    let lines = 0;
    let newestHasLines = false;
    for (const r of recovery) {
      if (r.tail) {
        if (r.tail.firstSeq > maxFirst) {
          maxFirst = r.tail.firstSeq;
          newestHasLines = r.lines > 0;
        }
        lines += r.lines;
      }
    }
    if (maxFirst > 0) next = maxFirst + lines + (newestHasLines ? 0 : 1);
  }
  return next;
}
