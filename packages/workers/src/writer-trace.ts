/**
 * The shard writer's sync trace (TestFaults.syncTrace; the benchmark's durable-ack breakdown, never
 * set by users): when each batch was written, each fdatasync ran (inline in the writer thread or on
 * libuv's pool) and each durable position was published, as text rows saved when the writer
 * finishes. Times are ms on the wall clock (performance.timeOrigin + now(): comparable across
 * threads), so a producer's own timestamps can be laid against them.
 *   W <start> <end> <maxSeq> <bytes>          a batch written (one writev)
 *   S <inline|background> <start> <end> <seq>  an fdatasync that covers everything up to seq
 *   P <time> <seq>                             durable published up to seq (waiters are woken)
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';

export type SyncKind = 'inline' | 'background';

export class SyncTrace {
  private readonly rows: string[] = [];

  constructor(private readonly file: string) {}

  /** The trace a writer keeps, if its test faults ask for one. */
  static from(file: string | undefined): SyncTrace | undefined {
    return file ? new SyncTrace(file) : undefined;
  }

  now(): number {
    return performance.timeOrigin + performance.now();
  }

  wrote(start: number, maxSeq: number, bytes: number): void {
    this.rows.push(`W ${ms(start)} ${ms(this.now())} ${maxSeq} ${bytes}`);
  }

  synced(kind: SyncKind, start: number, seq: number): void {
    this.rows.push(`S ${kind} ${ms(start)} ${ms(this.now())} ${seq}`);
  }

  published(seq: number): void {
    this.rows.push(`P ${ms(this.now())} ${seq}`);
  }

  save(): void {
    fs.writeFileSync(this.file, this.rows.length ? this.rows.join('\n') + '\n' : '');
  }
}

const ms = (t: number): string => t.toFixed(3);

/** A saved sync trace, parsed (the rows above; times in wall-clock ms). */
export interface SyncTraceRows {
  writes: { end: number; maxSeq: number }[];
  syncs: { kind: string; start: number; end: number; seq: number }[];
  published: { at: number; seq: number }[];
}

/** Read a trace a writer saved (the benchmark's breakdown and the tests read it the same way). */
export function readSyncTrace(file: string): SyncTraceRows {
  const t: SyncTraceRows = { writes: [], syncs: [], published: [] };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'W') t.writes.push({ end: +f[2], maxSeq: +f[3] });
    else if (f[0] === 'S') t.syncs.push({ kind: f[1], start: +f[2], end: +f[3], seq: +f[4] });
    else if (f[0] === 'P') t.published.push({ at: +f[1], seq: +f[2] });
  }
  return t;
}
