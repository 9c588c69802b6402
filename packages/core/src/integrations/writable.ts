/**
 * A Node Writable over a log, so `await pipeline(source, createLogWritable(log))` works:
 *
 *   mode 'object' (default): object mode, each chunk is one entry. Strings and Uint8Arrays go in as
 *     they are; anything else is JSON.stringify'd (or passed through `serialize`).
 *   mode 'lines': byte mode, the stream is split at '\n' and each line (without it) is one entry.
 *     A line may span chunks; an unterminated last line is appended at the end; empty lines are skipped.
 *
 * Each write's callback runs once its entries are appended (in the ring, sequence numbers taken).
 * Backpressure: when a shard's ring is more than `maxFill` full (default half), callbacks wait until
 * the writer threads have drained it below half that, so the stream's buffer fills and write()
 * returns false instead of the appending thread blocking on a full ring. final() (the 'finish'
 * event, the end of pipeline()) waits until everything appended through the stream is durable.
 */
import { Writable } from 'node:stream';
import { EntryTooLargeError, InvalidArgumentError, ShardlogError } from '@shardlog/workers';
import type { LogStats } from '../log.js';
import { appendInPieces, describe, type Entry, type Producer } from '../producer.js';

export interface LogWritableOptions {
  /** 'object' (default): one entry per chunk. 'lines': bytes split into one entry per line. */
  mode?: 'object' | 'lines';
  /** Object mode: how a chunk that is not a string or Uint8Array becomes an entry. Default JSON.stringify. */
  serialize?: (chunk: unknown) => Entry;
  /** The stream's own buffer: chunks in object mode (default 16), bytes in lines mode (default 64 KiB). */
  highWaterMark?: number;
  /** Ring fill (0..1) above which write callbacks wait for the writers. Default 0.5. */
  maxFill?: number;
}

/** What the stream needs: a Producer, and stats() (a Log) for backpressure. Without stats() a full ring blocks per onFull. */
type Target = Producer & { stats?: () => LogStats };

const NL = 10;

class LogWritable extends Writable {
  private readonly target: Target;
  private readonly lines: boolean;
  private readonly serialize: (chunk: unknown) => Entry;
  private readonly maxFill: number;
  private readonly ringBytes: number;
  /** Bytes appended since the ring fill was last looked at; looked at every checkEvery bytes. */
  private sinceCheck = 0;
  private readonly checkEvery: number;
  /** Lines mode: the start of a line that the last chunk did not finish. */
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(target: Target, o: LogWritableOptions) {
    const lines = o.mode === 'lines';
    super({ objectMode: !lines, decodeStrings: true, highWaterMark: o.highWaterMark ?? (lines ? 64 * 1024 : 16) });
    this.target = target;
    this.lines = lines;
    this.serialize = o.serialize ?? ((c) => JSON.stringify(c));
    this.maxFill = o.maxFill ?? 0.5;
    // The ring's capacity, from the largest entry it takes (half the ring, less a record header).
    this.ringBytes = 2 ** Math.ceil(Math.log2(2 * (target.maxEntryBytes + 16)));
    this.checkEvery = Math.max(4096, Math.floor((this.ringBytes * this.maxFill) / 8));
  }

  private toEntry(chunk: unknown): Entry {
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) return chunk;
    let e: unknown;
    try {
      e = this.serialize(chunk);
    } catch (err) {
      // JSON.stringify of a cycle or a BigInt, or a custom serialize that threw: the chunk, not the stream's fault
      if (err instanceof ShardlogError) throw err;
      throw new InvalidArgumentError(`cannot serialize a chunk (${describe(chunk)}): ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    if (typeof e !== 'string' && !(e instanceof Uint8Array)) throw new InvalidArgumentError(`serialize must return a string or a Uint8Array, got ${describe(e)}`);
    return e;
  }

  override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.appendChunks([chunk], cb);
  }

  override _writev(chunks: { chunk: unknown }[], cb: (err?: Error | null) => void): void {
    this.appendChunks(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  /**
   * Append the entries of `chunks` in order. A chunk that cannot become an entry, or an entry the log
   * refuses, fails the stream with its error; every entry before it is appended all the same, however
   * the stream happened to group the chunks (one _write or a _writev of many).
   */
  private appendChunks(chunks: unknown[], cb: (err?: Error | null) => void): void {
    const entries: Entry[] = [];
    let bad: unknown;
    try {
      if (this.lines) {
        for (const c of chunks) this.splitLines(c as Buffer, entries);
      } else {
        for (const c of chunks) entries.push(this.toEntry(c));
      }
    } catch (e) {
      bad = e; // `entries` holds what came before it
    }
    try {
      if (entries.length === 1) this.target.append(entries[0]);
      else if (entries.length > 1) appendInPieces(this.target, entries);
    } catch {
      // appendInPieces checks every entry before it appends any: nothing went in. One by one, up to the refused one.
      for (const x of entries) {
        try {
          this.target.append(x);
        } catch (refused) {
          cb(refused as Error);
          return;
        }
      }
    }
    if (bad !== undefined) {
      cb(bad as Error);
      return;
    }
    let bytes = 0;
    for (const e of entries) bytes += e.length + 24;
    this.afterAppend(bytes, cb);
  }

  /** Cut `buf` at each '\n' into entries, keeping an unfinished line for the next chunk. */
  private splitLines(buf: Buffer, out: Entry[]): void {
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NL, start);
      if (nl < 0) break;
      let line = buf.subarray(start, nl);
      if (this.partialBytes > 0) {
        line = Buffer.concat([...this.partial, line]);
        this.partial = [];
        this.partialBytes = 0;
      }
      if (line.length > 0) out.push(line);
      start = nl + 1;
    }
    if (start < buf.length) {
      const rest = buf.subarray(start);
      this.partialBytes += rest.length;
      if (this.partialBytes > this.target.maxEntryBytes) throw new EntryTooLargeError(this.partialBytes, this.target.maxEntryBytes);
      this.partial.push(rest);
    }
  }

  /** Call back now, or once the rings have room again if they are filling. */
  private afterAppend(bytes: number, cb: (err?: Error | null) => void): void {
    this.sinceCheck += bytes;
    const stats = this.target.stats;
    if (this.sinceCheck < this.checkEvery || typeof stats !== 'function') {
      cb();
      return;
    }
    this.sinceCheck = 0;
    const fill = (): number => {
      const st = stats.call(this.target);
      let most = 0;
      for (const s of st.shards) if (s.pendingBytes > most) most = s.pendingBytes;
      return most / this.ringBytes;
    };
    if (fill() <= this.maxFill) {
      cb();
      return;
    }
    // Filling: hold the callback (the stream buffers, then write() returns false) until the
    // writers have drained the rings to half the limit, or the log has failed.
    const low = this.maxFill / 2;
    const poll = (): void => {
      const failure = (this.target as { failure?: Error }).failure;
      if (failure) cb(failure);
      else if (fill() <= low) cb();
      else setTimeout(poll, 1);
    };
    setTimeout(poll, 1);
  }

  override _final(cb: (err?: Error | null) => void): void {
    try {
      if (this.partialBytes > 0) {
        const last = Buffer.concat(this.partial);
        this.partial = [];
        this.partialBytes = 0;
        this.target.append(last);
      }
    } catch (e) {
      cb(e as Error);
      return;
    }
    this.target.durable().then(
      () => cb(),
      (e: Error) => cb(e),
    );
  }
}

/**
 * A Writable that appends into `log` (a Log, or a Producer attached in a worker). See the module
 * comment for the two modes, backpressure, and when 'finish' fires.
 */
const WRITABLE_OPTIONS = new Set(['mode', 'serialize', 'highWaterMark', 'maxFill']);

export function createLogWritable(log: Producer, options: LogWritableOptions = {}): Writable {
  if (!log || typeof (log as Producer).append !== 'function' || typeof (log as Producer).durable !== 'function') {
    throw new InvalidArgumentError('createLogWritable takes an open log (or a Producer)');
  }
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('createLogWritable takes an options object as its second argument');
  for (const k of Object.keys(options)) if (!WRITABLE_OPTIONS.has(k)) throw new InvalidArgumentError(`unknown option ${k} (createLogWritable takes ${[...WRITABLE_OPTIONS].join(', ')})`);
  if (options.mode !== undefined && options.mode !== 'object' && options.mode !== 'lines') {
    throw new InvalidArgumentError(`option mode must be 'object' or 'lines', got ${JSON.stringify(options.mode)}`);
  }
  if (options.maxFill !== undefined && !(typeof options.maxFill === 'number' && options.maxFill > 0 && options.maxFill <= 1)) {
    throw new InvalidArgumentError(`option maxFill must be a number in (0, 1], got ${String(options.maxFill)}`);
  }
  if (options.serialize !== undefined && typeof options.serialize !== 'function') throw new InvalidArgumentError('option serialize must be a function');
  return new LogWritable(log as Target, options);
}
