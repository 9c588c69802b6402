/**
 * A pino destination that appends every log line to a shardlog log:
 *
 *   const logger = pino(shardlogDestination({ dir: 'logs/app', shards: 2 }));
 *
 * It implements what pino (and pino.multistream) expect of a destination, the way sonic-boom does:
 * write(line), flush(cb), flushSync(), end(), reopen(), and the 'ready' / 'finish' / 'close' /
 * 'error' / 'drop' events. Each write() is one append straight into a ring (pino calls it with one
 * complete line ending in '\n'). Format 'lines' (the default) keeps the files plain NDJSON for
 * tail -f and log tools; format 'framed' stores each line (without its '\n') as a CRC-checked
 * record with a sequence number, readable with readLog().
 *
 * Nothing is lost when the process exits (process.exit(), an uncaught exception) or, with
 * `signals: ['SIGTERM']`, when it is told to stop: flushSync() runs from exit-flush.ts and blocks
 * until the writer threads have written and fdatasynced every line (Producer.durableSync()).
 */
import { EventEmitter } from 'node:events';
import { CURRENT_LINK, EntryTooLargeError, InvalidArgumentError, MANIFEST_FILE, shardDirName, LogClosedError, RingFullError, ShardlogError } from '@shardlog/workers';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beginOpen, openLog, openLogSync, type Log, type OpeningLog } from '../log.js';
import { appendInPieces } from '../producer.js';
import { resolveOptions, type OpenOptions, type SyncOption } from '../options.js';
import { RingFill } from './ring-fill.js';
import { zeroKeyRing } from '@shardlog/workers';
import { registerExitFlush, unregisterExitFlush, type ExitFlushTarget } from './exit-flush.js';

export interface ShardlogDestinationOptions extends Partial<Omit<OpenOptions, 'format' | 'sync'>> {
  /** Write into this open log instead of opening one from `dir` (end() then leaves it open unless closeLog is true). */
  log?: Log;
  /** 'lines' (default): plain NDJSON files. 'framed': one CRC-checked record per line. Ignored with `log`. */
  format?: 'lines' | 'framed';
  /** Close the log on end(). Default: true when the destination opened it, false for a `log` passed in. */
  closeLog?: boolean;
  /**
   * Drain synchronously on process 'exit' (process.exit(), uncaught exceptions): openLog's option of
   * the same name, passed on to the log this destination opens. Default true. With `log`, that log's
   * own setting applies.
   */
  flushOnExit?: boolean;
  /**
   * Also drain on these signals, e.g. ['SIGTERM', 'SIGINT']. If nothing else listens for the signal,
   * the process then dies by it as it would have; if you have your own handler, it decides. Default none.
   */
  signals?: NodeJS.Signals[];
  /** Longest a synchronous flush blocks, in ms. Default 10000. */
  flushTimeoutMs?: number;
  /**
   * true: as sonic-boom's `sync`, open the log before the constructor returns (openLogSync: blocks while the writer threads
   * recover; an open that fails throws). Default false: the log opens in the background and lines
   * written meanwhile are kept (appended once it is open, or at exit, which waits for the open).
   * Any other value is openLog's fdatasync policy ('batch', 'none', { everyMs }, { everyBytes }).
   */
  sync?: boolean | SyncOption;
  /**
   * Ring fill (0..1) past which write() returns false, as a stream's does past its highWaterMark;
   * 'drain' follows once the writer threads have drained the rings to half of it. Lines written
   * meanwhile are still appended (pino does not wait). Default 0.5.
   */
  maxFill?: number;
}

/** Error code of a flushSync() that ran out of time. */
export const FLUSH_TIMEOUT = 'ERR_SHARDLOG_FLUSH_TIMEOUT';

export class ShardlogDestination extends EventEmitter implements ExitFlushTarget {
  /** The log, once 'ready' has been emitted. */
  log: Log | undefined;
  /** Lines refused since creation (log failed or closed, line too large, ring full with onFull 'throw'). */
  dropped = 0;
  /** True once end() was called: later writes are dropped. */
  ending = false;
  /** Like a Node stream's: true until end(). pino(dest) also needs it to take a single argument as the destination. */
  writable = true;
  /** True once 'close' was emitted. */
  closed = false;
  private readonly framed: boolean;
  private readonly ownsLog: boolean;
  private readonly timeoutMs: number;
  private readonly opening: Promise<Log | undefined>;
  /** Lines written before the log was open, and their bytes (bounded: see writeEarly()). */
  private early: string[] | undefined = [];
  private earlyBytes = 0;
  /** One ring's bytes, the onFull policy and the longest wait for the open, for lines written before it is open. */
  private earlyRingBytes = Infinity;
  private earlyThrows = false;
  private earlyOpenMs = 0;
  private broken: Error | undefined;
  private readonly maxFill: number;
  private fill: RingFill | undefined;
  private needDrain = false;
  /** True once destroy() was called. */
  destroyed = false;
  /** The open under way (not with sync: true, a `log` passed in, or verify: 'all'). */
  private pending: OpeningLog | undefined;

  constructor(opts: ShardlogDestinationOptions) {
    super();
    if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('shardlogDestination takes an options object: { dir } or { log }');
    const { log, closeLog, flushOnExit = true, signals = [], flushTimeoutMs = 10_000, sync: syncOption, maxFill = 0.5, ...rest } = opts;
    if (typeof maxFill !== 'number' || !(maxFill > 0 && maxFill <= 1)) throw new InvalidArgumentError(`option maxFill must be a number in (0, 1], got ${String(maxFill)}`);
    this.maxFill = maxFill;
    const sync = syncOption === true;
    const open: Partial<OpenOptions> = typeof syncOption === 'boolean' || syncOption === undefined ? rest : { ...rest, sync: syncOption };
    if (!Array.isArray(signals) || !signals.every((s) => typeof s === 'string' && s.startsWith('SIG'))) {
      throw new InvalidArgumentError(`option signals must be an array of signal names like 'SIGTERM', got ${JSON.stringify(signals)}`);
    }
    if (typeof flushTimeoutMs !== 'number' || !(flushTimeoutMs > 0)) throw new InvalidArgumentError(`option flushTimeoutMs must be a positive number, got ${String(flushTimeoutMs)}`);
    this.timeoutMs = flushTimeoutMs;
    if (log) {
      this.framed = log.format === 'framed';
      this.ownsLog = closeLog ?? false;
      this.adopt(log);
      this.opening = this.readyNextTick(log);
    } else {
      const format = open.format ?? (open.encryption ? 'framed' : 'lines'); // encrypted logs are framed
      const openOptions = { ...open, format, flushOnExit, shards: open.shards ?? destinationShards(open.dir) } as OpenOptions;
      const resolved = resolveOptions(openOptions); // bad options throw here, not later as an 'error' event
      zeroKeyRing(resolved.encryption);
      this.earlyRingBytes = resolved.ringBytes;
      this.earlyThrows = resolved.onFull === 'throw';
      this.earlyOpenMs = Math.max(flushTimeoutMs, resolved.stallTimeoutMs);
      this.framed = format === 'framed';
      this.ownsLog = closeLog ?? true;
      this.opening = sync ? this.openSync(openOptions) : this.openAsync(openOptions);
    }
    // The log drains itself on 'exit'; this destination finishes an open still under way there (so
    // lines written before it are kept), and drains on the signals asked for (a signal death skips 'exit').
    registerExitFlush(this, true, signals);
  }

  /** sync: true: the log opens before the constructor returns (its errors are thrown). */
  private openSync(options: OpenOptions): Promise<Log | undefined> {
    const l = openLogSync(options);
    this.adopt(l);
    return this.readyNextTick(l);
  }

  /**
   * 'ready' on the next tick for a log open already; what waits for the open (flush callbacks,
   * 'finish', reopen) waits for 'ready' too, even when called from a promise job, which runs before
   * the next tick.
   */
  private readyNextTick(l: Log): Promise<Log> {
    return new Promise((resolve) => {
      process.nextTick(() => {
        this.emit('ready');
        resolve(l);
      });
    });
  }

  /** The default: the writer threads start in the background; 'ready' once they run, 'error' if the open failed. */
  private openAsync(options: OpenOptions): Promise<Log | undefined> {
    let finished: Promise<Log>;
    if (options.verify === 'all') {
      finished = openLog(options); // verifies on a thread pool first: not finished early at exit
    } else {
      try {
        this.pending = beginOpen(options, false);
      } catch (e) {
        this.openFailed(e);
        return Promise.resolve(undefined);
      }
      finished = this.pending.finish();
    }
    return finished.then(
      (l) => {
        this.adopt(l);
        this.emit('ready');
        return l;
      },
      (e: unknown) => {
        this.openFailed(e);
        return undefined;
      },
    );
  }

  /** The log is open: take it, and append the lines written before. */
  private adopt(l: Log): void {
    if (this.log) return;
    this.log = l;
    this.fill = new RingFill(l, this.maxFill);
    const early = this.early ?? [];
    this.early = undefined;
    if (early.length > 0) {
      try {
        appendInPieces(l, early);
      } catch (e) {
        this.refuse(e, early.length);
      }
    }
    if (this.needDrain) this.waitDrain(); // the early lines went past maxFill: 'drain' once they are written
  }

  /** 'drain' once the writer threads have drained the rings to half maxFill. */
  private waitDrain(): void {
    this.needDrain = true;
    this.fill?.whenLow(() => {
      this.needDrain = false;
      this.emit('drain');
    });
  }

  /**
   * The open failed (another process holds the log, a corrupt log, a writer that cannot start): the
   * lines written so far are dropped and counted, and the error is an 'error' event, or a line on
   * stderr if nobody listens for 'error' (never an uncaught exception: the process keeps running).
   */
  private openFailed(e: unknown): void {
    if (this.broken) return;
    const err = e instanceof Error ? e : new Error(String(e));
    this.broken = err;
    this.dropped += this.early?.length ?? 0;
    this.early = undefined;
    process.nextTick(() => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else process.stderr.write(`shardlog destination: the log could not open, its lines are dropped: ${err.message}\n`);
    });
  }

  /** Finish an open still under way, blocking (at exit, or flushSync() before 'ready'). */
  private openNow(timeoutMs = this.timeoutMs): Log | undefined {
    if (this.log || this.broken || !this.pending) return this.log;
    try {
      this.adopt(this.pending.finishSync(timeoutMs));
    } catch (e) {
      this.openFailed(e);
    }
    return this.log;
  }

  /**
   * Append one line. Never throws into the logging call: a refused line is counted in `dropped`,
   * emitted as 'drop', and the reason emitted as 'error' on the next tick. Returns false if refused.
   */
  write(line: string | Uint8Array): boolean {
    if (this.broken || this.ending) {
      this.refuse(this.broken ?? new LogClosedError('write after end() on a shardlog destination'), 1, line);
      return false;
    }
    let entry = line;
    if (this.framed) {
      const n = line.length;
      if (typeof line === 'string') {
        if (n > 0 && line.charCodeAt(n - 1) === 10) entry = line.slice(0, -1);
      } else if (n > 0 && line[n - 1] === 10) entry = line.subarray(0, n - 1);
    }
    const log = this.log ?? this.writeEarly(entry, line);
    if (log === 'kept') return !this.needDrain;
    if (log === 'refused') return false;
    try {
      log.append(entry);
    } catch (e) {
      this.refuse(e, 1, line);
      return false;
    }
    if (this.listenerCount('write') > 0) this.emit('write', typeof line === 'string' ? Buffer.byteLength(line) : line.length);
    if (this.fill?.added(line.length) && !this.needDrain) this.waitDrain();
    return !this.needDrain;
  }

  /**
   * Before the log is open, lines wait in memory, bounded as a ring is (counted in ring bytes, with
   * their record headers): write() returns false once they take more than maxFill of one ring
   * ('drain' follows once they are in the rings and the writers caught up). A line that would take
   * them past a whole ring finishes the open first, blocking as a full ring does (and is then
   * appended; an open that takes longer than flushTimeoutMs and stallTimeoutMs fails, as at exit); with onFull 'throw' (where they must go into the ring at once, so half a ring is
   * their limit) or an open that cannot be finished early (verify: 'all') the line is refused
   * (RingFullError). Returns the log if
   * it is open now (the line is to be appended to it), else whether the line was kept or refused.
   */
  private writeEarly(entry: string | Uint8Array, line: string | Uint8Array): Log | 'kept' | 'refused' {
    if (!this.early) return this.log ?? 'refused';
    const text = typeof entry === 'string' ? entry : Buffer.from(entry).toString('utf8');
    const bytes = ringBytesOf(text);
    const room = this.earlyThrows ? this.earlyRingBytes / 2 : this.earlyRingBytes;
    if (this.earlyBytes + bytes > room) {
      if (this.earlyThrows || !this.pending) {
        this.refuse(new RingFullError(0, ': the log is not open yet and the lines waiting for it fill a ring'), 1, line);
      } else if (this.openNow(this.earlyOpenMs) === undefined) {
        this.refuse(this.broken ?? new LogClosedError('the log did not open'), 1, line);
      }
      return this.log ?? 'refused';
    }
    this.early.push(text);
    this.earlyBytes += bytes;
    if (this.earlyBytes > this.maxFill * this.earlyRingBytes) this.needDrain = true;
    return 'kept';
  }

  /** True while write() returns false: a ring is past maxFill; 'drain' follows once the writers caught up. */
  get writableNeedDrain(): boolean {
    return this.needDrain;
  }

  private refuse(e: unknown, lines: number, line?: string | Uint8Array): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.dropped += lines;
    if (line !== undefined) this.emit('drop', line);
    // A line too large (or a full ring with onFull 'throw') loses that line only; anything else
    // (the log failed or closed) ends the destination: one 'error', then quiet drops.
    const transient = err instanceof EntryTooLargeError || err instanceof RingFullError;
    if (transient) {
      process.nextTick(() => this.emit('error', err));
    } else if (!this.broken) {
      this.broken = err;
      process.nextTick(() => this.emit('error', err));
    }
  }

  /**
   * pino's logger.flush(cb): calls back once every line written so far is durable, emitting 'drain'
   * first (sonic-boom emits 'drain' once a flush has written its buffer). After destroy() or 'close'
   * the callback gets a LogClosedError (sonic-boom's 'SonicBoom destroyed'); without a callback that
   * error is an 'error' event.
   */
  flush(cb?: (err?: Error | null) => void): void {
    const fail = (e: Error) => (cb ? cb(e) : this.emit('error', e));
    if (this.destroyed || this.closed) {
      const e = new LogClosedError(`flush() after ${this.destroyed ? 'destroy()' : "'close'"} on a shardlog destination`);
      process.nextTick(() => fail(e));
      return;
    }
    this.opening
      .then((log) => {
        if (!log) throw this.broken ?? new LogClosedError('the log did not open');
        return log.durable();
      })
      .then(() => {
        this.emit('drain');
        cb?.(null);
      }, fail);
  }

  /**
   * Block until every line written so far is written and fdatasynced (pino calls this after fatal()
   * and from multistream.end()). Throws if the log is not open yet with lines waiting, if it failed,
   * or (code ERR_SHARDLOG_FLUSH_TIMEOUT) if flushTimeoutMs passed first.
   */
  flushSync(): void {
    const log = this.log ?? (this.early && this.early.length > 0 ? this.openNow() : undefined);
    if (!log) {
      if (this.broken) throw this.broken;
      if (this.early && this.early.length > 0) throw new ShardlogError('ERR_SHARDLOG_NOT_READY', 'the shardlog destination is not ready yet (wait for its ready event)');
      return;
    }
    if (!log.durableSync(this.timeoutMs)) {
      throw new ShardlogError(FLUSH_TIMEOUT, `shardlog destination: lines not durable after ${this.timeoutMs} ms`);
    }
  }

  /** @internal exit-flush.ts calls this at exit and on registered signals. */
  flushOnExit(reason: string): void {
    try {
      let openedHere = false;
      if (!this.log && this.early && this.early.length > 0) {
        const waiting = this.early.length;
        openedHere = this.openNow() !== undefined; // block (bounded) until the open ends, then append them
        if (!openedHere) {
          process.stderr.write(`shardlog destination: ${waiting} log lines lost at ${reason}: the log did not open${this.broken ? ` (${this.broken.message})` : ''}\n`);
          return;
        }
      }
      // At 'exit' the log's own exit hook drains it (openLog's flushOnExit), unless it opened just now.
      if (reason === 'exit' && !openedHere) return;
      this.flushSync();
    } catch (e) {
      if (this.broken) return; // already reported through 'error'
      process.stderr.write(`shardlog destination: flush at ${reason} failed: ${(e as Error).message}\n`);
    }
  }

  /**
   * Roll to new segment files (for log-rotation tools: call it on SIGHUP as you would sonic-boom's
   * reopen): each shard starts a new file with its next line, and each lines shard's `current.log`
   * symlink follows it. With `file` (sonic-boom's reopen(file)), that path then becomes a symlink to
   * the shard's `current.log`, a stable name that always shows the current segment; since a sharded
   * log has one current file per shard, `file` needs a one-shard lines log (InvalidArgumentError
   * otherwise). The promise resolves once every shard has left its current file; 'ready' is emitted
   * again then, and 'drain' once what was written is durable, as sonic-boom does. A rejection nobody
   * awaits is not reported.
   */
  reopen(file?: string): Promise<void> {
    const p = this.opening.then(async (log) => {
      if (!log) throw this.broken ?? new LogClosedError('the log did not open');
      if (file !== undefined) checkReopenFile(log, file);
      await log.rotate();
      if (file !== undefined) linkFile(file, path.join(log.dir, shardDirName(0), CURRENT_LINK));
      // As sonic-boom once its reopened file is open: 'ready', then 'drain' (everything written is durable).
      this.emit('ready');
      log.durable().then(() => this.emit('drain'), () => undefined);
    });
    p.catch(() => undefined);
    return p;
  }

  /**
   * Stop taking lines, wait until everything written is durable, close the log if this destination
   * owns it, then emit 'finish' and 'close'. A failure is emitted as 'error' before 'close'.
   */
  end(cb?: () => void): this {
    if (cb) this.once('close', cb);
    if (this.ending) return this;
    this.ending = true;
    this.writable = false;
    void this.finish();
    return this;
  }

  /**
   * sonic-boom's destroy(): stop taking lines now (later writes are dropped) and close, emitting
   * 'close' but not 'finish'. Lines already appended are still written by the log's close.
   */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (!this.ending) {
      this.ending = true;
      this.writable = false;
      void this.finish(false);
    }
    return this;
  }

  /**
   * Durable, then the log closed (if owned), then 'finish' and 'close' back to back, as sonic-boom
   * emits them: a 'finish' listener that ends its work there has seen 'close' too, and the log's lock
   * is released by then. A failure is emitted as 'error' (once) before 'close'.
   */
  private async finish(emitFinish = true): Promise<void> {
    let error: Error | undefined;
    let durable = false;
    const log = await this.opening;
    if (log) {
      try {
        await log.durable();
        durable = true;
      } catch (e) {
        error = e as Error;
      }
      if (this.ownsLog) {
        try {
          await log.close();
        } catch (e) {
          error ??= e as Error;
        }
      }
    }
    unregisterExitFlush(this);
    this.closed = true;
    if (durable && emitFinish) this.emit('finish');
    if (error && !this.broken) {
      this.broken = error; // a failure already reported through 'error' is not reported again
      this.emit('error', error);
    }
    this.emit('close');
  }
}

/** Bytes a line takes in a ring: a 16-byte record header, the line and its '\n', rounded up to 8. */
function ringBytesOf(text: string): number {
  return (16 + Buffer.byteLength(text) + 1 + 7) & ~7;
}

/** reopen(file) names one file: the log must have one shard of lines. */
function checkReopenFile(log: Log, file: string): void {
  if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError(`reopen(file) takes a file path, got ${JSON.stringify(file)}`);
  if (log.format !== 'lines' || log.shards !== 1) {
    throw new InvalidArgumentError(`reopen(file) needs a one-shard lines log (this one has ${log.shards} shard(s) of '${log.format}'): each shard has its own current.log`);
  }
}

/** Make `file` a symlink to `target` (replacing what is there atomically). */
function linkFile(file: string, target: string): void {
  const abs = path.resolve(file);
  const tmp = `${abs}.shardlog-tmp`;
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, abs);
}

/**
 * The destination's shard count for a new log: 1, so one logger's lines stay in order in one file
 * (one writer thread). An existing log keeps its own count.
 */
function destinationShards(dir: unknown): number | undefined {
  if (typeof dir !== 'string' || dir.length === 0) return 1;
  return fs.existsSync(path.join(dir, MANIFEST_FILE)) ? undefined : 1;
}

/** A pino destination over a shardlog log: `pino(shardlogDestination({ dir, shards }))`. */
export function shardlogDestination(opts: ShardlogDestinationOptions): ShardlogDestination {
  return new ShardlogDestination(opts);
}
