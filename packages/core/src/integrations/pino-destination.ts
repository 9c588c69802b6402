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
import { EntryTooLargeError, InvalidArgumentError, LogClosedError, RingFullError, ShardlogError } from '@shardlog/workers';
import { openLog, type Log } from '../log.js';
import { appendInPieces } from '../producer.js';
import { resolveOptions, type OpenOptions } from '../options.js';
import { zeroKeyRing } from '@shardlog/workers';
import { registerExitFlush, unregisterExitFlush, type ExitFlushTarget } from './exit-flush.js';

export interface ShardlogDestinationOptions extends Partial<Omit<OpenOptions, 'format'>> {
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
  /** Lines written before the log was open. */
  private early: string[] | undefined = [];
  private broken: Error | undefined;

  constructor(opts: ShardlogDestinationOptions) {
    super();
    if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('shardlogDestination takes an options object: { dir } or { log }');
    const { log, closeLog, flushOnExit = true, signals = [], flushTimeoutMs = 10_000, ...open } = opts;
    if (!Array.isArray(signals) || !signals.every((s) => typeof s === 'string' && s.startsWith('SIG'))) {
      throw new InvalidArgumentError(`option signals must be an array of signal names like 'SIGTERM', got ${JSON.stringify(signals)}`);
    }
    if (typeof flushTimeoutMs !== 'number' || !(flushTimeoutMs > 0)) throw new InvalidArgumentError(`option flushTimeoutMs must be a positive number, got ${String(flushTimeoutMs)}`);
    this.timeoutMs = flushTimeoutMs;
    if (log) {
      this.framed = log.format === 'framed';
      this.ownsLog = closeLog ?? false;
      this.log = log;
      this.early = undefined;
      this.opening = Promise.resolve(log);
      process.nextTick(() => this.emit('ready'));
    } else {
      const format = open.format ?? (open.encryption ? 'framed' : 'lines'); // encrypted logs are framed
      const openOptions = { ...open, format, flushOnExit } as OpenOptions;
      zeroKeyRing(resolveOptions(openOptions).encryption); // bad options throw here, not later as an 'error' event
      this.framed = format === 'framed';
      this.ownsLog = closeLog ?? true;
      this.opening = openLog(openOptions).then(
        (l) => {
          this.log = l;
          const early = this.early ?? [];
          this.early = undefined;
          if (early.length > 0) {
            try {
              appendInPieces(l, early);
            } catch (e) {
              this.refuse(e, early.length);
            }
          }
          this.emit('ready');
          return l;
        },
        (e: Error) => {
          this.broken = e;
          this.dropped += this.early?.length ?? 0;
          this.early = undefined;
          process.nextTick(() => this.emit('error', e)); // outside the promise chain: unhandled, it is an uncaught error
          return undefined;
        },
      );
    }
    // The log drains itself on 'exit'; this destination only says so if lines written before the log
    // opened are lost there, and drains on the signals asked for (a signal death skips 'exit').
    registerExitFlush(this, true, signals);
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
    const log = this.log;
    if (log === undefined) {
      if (this.early) this.early.push(typeof entry === 'string' ? entry : Buffer.from(entry).toString('utf8'));
      return true;
    }
    try {
      log.append(entry);
      return true;
    } catch (e) {
      this.refuse(e, 1, line);
      return false;
    }
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

  /** pino's logger.flush(cb): calls back once every line written so far is durable. */
  flush(cb?: (err?: Error | null) => void): void {
    this.opening
      .then((log) => {
        if (!log) throw this.broken ?? new LogClosedError('the log did not open');
        return log.durable();
      })
      .then(
        () => cb?.(null),
        (e: Error) => (cb ? cb(e) : this.emit('error', e)),
      );
  }

  /**
   * Block until every line written so far is written and fdatasynced (pino calls this after fatal()
   * and from multistream.end()). Throws if the log is not open yet with lines waiting, if it failed,
   * or (code ERR_SHARDLOG_FLUSH_TIMEOUT) if flushTimeoutMs passed first.
   */
  flushSync(): void {
    const log = this.log;
    if (!log) {
      if (this.early && this.early.length > 0) throw new ShardlogError('ERR_SHARDLOG_NOT_READY', 'the shardlog destination is not ready yet (wait for its ready event)');
      if (this.broken) throw this.broken;
      return;
    }
    if (!log.durableSync(this.timeoutMs)) {
      throw new ShardlogError(FLUSH_TIMEOUT, `shardlog destination: lines not durable after ${this.timeoutMs} ms`);
    }
  }

  /** @internal exit-flush.ts calls this at exit and on registered signals. */
  flushOnExit(reason: string): void {
    try {
      if (!this.log && this.early && this.early.length > 0) {
        process.stderr.write(`shardlog destination: ${this.early.length} log lines lost at ${reason}: the log was not open yet\n`);
        return;
      }
      if (reason === 'exit') return; // the log's own exit hook drains it (openLog's flushOnExit)
      this.flushSync();
    } catch (e) {
      if (this.broken) return; // already reported through 'error'
      process.stderr.write(`shardlog destination: flush at ${reason} failed: ${(e as Error).message}\n`);
    }
  }

  /**
   * Roll to new segment files (for log-rotation tools: call it on SIGHUP as you would sonic-boom's
   * reopen): each shard starts a new file with its next line. The promise resolves once every
   * shard has left its current file; a rejection nobody awaits is not reported.
   */
  reopen(): Promise<void> {
    const p = this.opening.then((log) => {
      if (!log) throw this.broken ?? new LogClosedError('the log did not open');
      return log.rotate();
    });
    p.catch(() => undefined);
    return p;
  }

  /**
   * Stop taking lines, wait until everything written is durable ('finish'), close the log if this
   * destination owns it, then emit 'close'. A failure is emitted as 'error' before 'close'.
   */
  end(cb?: () => void): this {
    if (cb) this.once('close', cb);
    if (this.ending) return this;
    this.ending = true;
    this.writable = false;
    void this.finish();
    return this;
  }

  private async finish(): Promise<void> {
    let error: Error | undefined;
    const log = await this.opening;
    if (log) {
      try {
        await log.durable();
      } catch (e) {
        error = e as Error;
      }
      if (!error) this.emit('finish');
      if (this.ownsLog) {
        try {
          await log.close();
        } catch (e) {
          error ??= e as Error;
        }
      }
    }
    unregisterExitFlush(this);
    if (error && !this.broken) {
      this.broken = error; // a failure already reported through 'error' is not reported again
      this.emit('error', error);
    }
    this.closed = true;
    this.emit('close');
  }
}

/** A pino destination over a shardlog log: `pino(shardlogDestination({ dir, shards }))`. */
export function shardlogDestination(opts: ShardlogDestinationOptions): ShardlogDestination {
  return new ShardlogDestination(opts);
}
