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
import { acquireLock } from './lock.js';
import { asOpenError, prepareLogDir } from './log-dir.js';
import { manifestAtOpen } from './log-manifest.js';
import { resolveOptions, type OpenOptions, type ResolvedOptions } from './options.js';
import { Producer, type ProducerHandle } from './producer.js';
import { initSeq, peekSeq } from './sequence.js';
import { followLog, type FollowOptions } from './follow.js';
import type { LogEntry } from './reader.js';
import { truncateSegmentsBefore, type RetentionResult } from './retention.js';
import { verifyBeforeOpen } from './verify.js';
import { spawnWriter, startWriters, type ShardHandle } from './writers.js';

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
  durableLagBytes: number;
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
    if (flushOnExit) process.once('exit', this.onExit);
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

  /** Close (and sync) every shard's segment file; each shard's next write starts a new one. */
  async rotate(): Promise<void> {
    this.assertOpen();
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
      durableLagBytes: sum('durableLagBytes'),
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
    process.removeListener('exit', this.onExit);
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
    const fromSeq = options.fromSeq ?? this.nextSeq;
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) throw new InvalidArgumentError(`fromSeq must be a non-negative integer, got ${String(fromSeq)}`);
    this.assertOpen();
    const src = { dir: this.dir, rings: this.handle.rings, global: this.handle.global, nextSeq: () => this.nextSeq, failure: () => this.failure, keys: this.readKeys && copyReadKeys(this.readKeys) };
    return followLog(src, fromSeq);
  }
}

/** Open (creating or recovering) a log. Resolves once every shard has recovered and its writer runs. */
export async function openLog(options: OpenOptions): Promise<Log> {
  const o: ResolvedOptions = resolveOptions(options);
  const dir = prepareLogDir(o.dir); // real and absolute: retention, follow and close use it, whatever chdir() does later
  let release: () => void;
  try {
    release = acquireLock(dir);
  } catch (e) {
    throw asOpenError(e, dir);
  }
  const started: ShardHandle[] = [];
  try {
    const manifest = manifestAtOpen(dir, o.format, o.shards);
    const shards = manifest.shards;
    const verified = o.verify === 'all' && o.format === 'framed' ? await verifyBeforeOpen(dir, shards, o.skipCorrupt, o.encryption && { keys: o.encryption, logId: manifest.id }) : undefined;
    const global = new SharedArrayBuffer(GLOBAL_BYTES);
    const g32 = new Int32Array(global);
    const rings: SharedArrayBuffer[] = [];
    for (let s = 0; s < shards; s++) {
      const ring = createRing(o.ringBytes, o.stallTimeoutMs, o.testFaults?.ringStart);
      rings.push(ring);
      const wd: ShardWriterData = {
        ring,
        global,
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
      started.push(spawnWriter(wd));
    }
    const recovery = await writersStarted(started, verified);

    initSeq(g32, firstSeq(o.format, recovery));
    Atomics.store(g32, G_STATE, STATE_RUNNING);
    const handle: ProducerHandle = { rings, global, format: o.format, onFull: o.onFull, firstShard: 0 };
    const log = new Log(handle, dir, started, recovery, release, o.flushOnExit, manifest.id);
    if (o.encryption) log.readKeys = { keys: o.encryption, logId: manifest.id }; // for follow(); zeroed at close
    return log;
  } catch (e) {
    zeroKeyRing(o.encryption);
    await Promise.all(started.map((s) => s.worker.terminate()));
    release();
    throw asOpenError(e, dir);
  }
}

/** Wait until every writer has recovered its shard and runs; their recovery reports (with verify's counts added). */
async function writersStarted(started: ShardHandle[], verified: Awaited<ReturnType<typeof verifyBeforeOpen>> | undefined): Promise<ShardRecovery[]> {
  const recovery = await startWriters(started);
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
    // some shard's last segment, so that name plus all their lines bounds what was ever used.
    let maxFirst = 0;
    let lines = 0;
    for (const r of recovery) {
      if (r.tail) {
        maxFirst = Math.max(maxFirst, r.tail.firstSeq);
        lines += r.lines;
      }
    }
    if (maxFirst > 0) next = maxFirst + lines + 1;
  }
  return next;
}
