/**
 * The shard writer's sync trace (TestFaults.syncTrace; the benchmark's durable-ack breakdown, never
 * set by users): when each batch was written, each fdatasync ran (inline in the writer thread or on
 * libuv's pool) and each durable position was published, as text rows saved when the writer
 * finishes. Times are ms on the wall clock (performance.timeOrigin + now(): comparable across
 * threads), so a producer's own timestamps can be laid against them.
 *   W <start> <end> <maxSeq> <bytes>          a batch written (one writev)
 *   S <inline|background> <start> <end> <seq> <waitMs>
 *                                              an fdatasync that covers everything up to seq; for an
 *                                              inline one, how long of it the writer thread spent
 *                                              runnable but without a CPU (Linux schedstat; else NaN)
 *   P <time> <seq>                             durable published up to seq (waiters are woken)
 *   I <start> <end> <timeoutMs>                 the writer slept (idle) until a doorbell or the timeout
 *   Y <start> <end>                             the writer yielded to its event loop between batches
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';

export type SyncKind = 'inline' | 'background';

/** Row kinds in the trace's numeric buffer (each row is 5 numbers: kind and four fields). */
const K_WRITE = 1;
const K_SYNC_INLINE = 2;
const K_SYNC_BACKGROUND = 3;
const K_PUBLISHED = 4;
const K_SLEPT = 5;
const K_YIELDED = 6;
const ROW = 5;

/**
 * Rows are kept as numbers in one Float64Array that doubles when full, and turned into text only
 * in save(): a trace that allocated per row would add garbage collections to the writer thread it
 * is measuring (it did: with text rows, the writer's scavenges ran several times as often).
 */
export class SyncTrace {
  private buf = new Float64Array(ROW * 65536);
  private n = 0;
  /** This thread's schedstat, read without allocating (-1: not available). */
  private statFd = -2;
  private readonly statBuf = Buffer.alloc(128);
  private wait0 = NaN;

  constructor(private readonly file: string) {}

  /** The trace a writer keeps, if its test faults ask for one. */
  static from(file: string | undefined): SyncTrace | undefined {
    return file ? new SyncTrace(file) : undefined;
  }

  now(): number {
    return performance.timeOrigin + performance.now();
  }

  private row(kind: number, a: number, b: number, c: number, d: number): void {
    if (this.n + ROW > this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    const f = this.buf;
    const i = this.n;
    f[i] = kind;
    f[i + 1] = a;
    f[i + 2] = b;
    f[i + 3] = c;
    f[i + 4] = d;
    this.n = i + ROW;
  }

  wrote(start: number, maxSeq: number, bytes: number): void {
    this.row(K_WRITE, start, this.now(), maxSeq, bytes);
  }

  /** Call right before an inline fdatasync: notes the thread's run-queue wait so far. */
  syncStarting(): number {
    this.wait0 = this.runQueueWaitMs();
    return this.now();
  }

  synced(kind: SyncKind, start: number, seq: number): void {
    const waited = kind === 'inline' ? this.runQueueWaitMs() - this.wait0 : NaN;
    this.row(kind === 'inline' ? K_SYNC_INLINE : K_SYNC_BACKGROUND, start, this.now(), seq, waited);
  }

  /**
   * Milliseconds this thread has spent runnable but waiting for a CPU (field 2 of
   * /proc/thread-self/schedstat), NaN where there is no such file. A slow fdatasync that is mostly
   * this wait was the CPU's (the thread woke late), not the disk's.
   */
  private runQueueWaitMs(): number {
    if (this.statFd === -2) {
      try {
        this.statFd = fs.openSync('/proc/thread-self/schedstat', 'r');
      } catch {
        this.statFd = -1;
      }
    }
    if (this.statFd < 0) return NaN;
    const b = this.statBuf;
    const n = fs.readSync(this.statFd, b, 0, b.length, 0);
    let i = 0;
    while (i < n && b[i] !== 32) i++; // skip field 1 (time on the CPU)
    let v = 0;
    for (i++; i < n && b[i] >= 48 && b[i] <= 57; i++) v = v * 10 + (b[i] - 48);
    return v / 1e6;
  }

  slept(start: number, timeoutMs: number): void {
    this.row(K_SLEPT, start, this.now(), timeoutMs, 0);
  }

  /** The writer let its event loop run (setImmediate): messages, timers, V8's own tasks (GC). */
  yielded(start: number): void {
    this.row(K_YIELDED, start, this.now(), 0, 0);
  }

  published(seq: number): void {
    this.row(K_PUBLISHED, this.now(), seq, 0, 0);
  }

  save(): void {
    if (this.statFd >= 0) fs.closeSync(this.statFd);
    this.statFd = -1;
    const lines: string[] = [];
    const f = this.buf;
    for (let i = 0; i < this.n; i += ROW) {
      const [k, a, b, c, d] = [f[i], f[i + 1], f[i + 2], f[i + 3], f[i + 4]];
      if (k === K_WRITE) lines.push(`W ${ms(a)} ${ms(b)} ${c} ${d}`);
      else if (k === K_SYNC_INLINE || k === K_SYNC_BACKGROUND) lines.push(`S ${k === K_SYNC_INLINE ? 'inline' : 'background'} ${ms(a)} ${ms(b)} ${c} ${ms(d)}`);
      else if (k === K_PUBLISHED) lines.push(`P ${ms(a)} ${b}`);
      else if (k === K_SLEPT) lines.push(`I ${ms(a)} ${ms(b)} ${c}`);
      else if (k === K_YIELDED) lines.push(`Y ${ms(a)} ${ms(b)}`);
    }
    fs.writeFileSync(this.file, lines.length ? lines.join('\n') + '\n' : '');
  }
}

const ms = (t: number): string => t.toFixed(3);

/** A saved sync trace, parsed (the rows above; times in wall-clock ms). */
export interface SyncTraceRows {
  writes: { start: number; end: number; maxSeq: number; bytes: number }[];
  syncs: { kind: string; start: number; end: number; seq: number; waitMs: number }[];
  published: { at: number; seq: number }[];
  idles: { start: number; end: number; timeoutMs: number }[];
  yields: { start: number; end: number }[];
}

/** Read a trace a writer saved (the benchmark's breakdown and the tests read it the same way). */
export function readSyncTrace(file: string): SyncTraceRows {
  const t: SyncTraceRows = { writes: [], syncs: [], published: [], idles: [], yields: [] };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'W') t.writes.push({ start: +f[1], end: +f[2], maxSeq: +f[3], bytes: +f[4] });
    else if (f[0] === 'S') t.syncs.push({ kind: f[1], start: +f[2], end: +f[3], seq: +f[4], waitMs: f[5] === undefined ? NaN : +f[5] });
    else if (f[0] === 'P') t.published.push({ at: +f[1], seq: +f[2] });
    else if (f[0] === 'I') t.idles.push({ start: +f[1], end: +f[2], timeoutMs: +f[3] });
    else if (f[0] === 'Y') t.yields.push({ start: +f[1], end: +f[2] });
  }
  return t;
}
