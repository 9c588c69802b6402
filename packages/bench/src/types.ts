/**
 * What the parent asks a child process to run (a spec, passed as JSON on its command line) and
 * what the child reports back (a result, written as JSON to the file the spec names).
 */
import type { CpuSource } from './cpu.js';
import type { Verification } from './verify.js';

/** The systems of the end-to-end runs. */
export type System =
  | 'shardlog'
  | 'sonic-boom'
  | 'pino-destination'
  | 'pino-transport'
  | 'thread-stream'
  | 'thread-stream-buffers'
  | 'fs-stream'
  | 'dd'
  | 'fdatasync-loop';

export interface E2ESpec {
  kind: 'e2e';
  /** Stable identifier of the case (same across repetitions). */
  id: string;
  label: string;
  system: System;
  /** Entries to write (dd and fdatasync-loop: ignored, they write `bytes`). */
  n: number;
  /** ascii and binary: 100-byte entries; json1k: 1 KiB JSON strings. */
  shape: 'ascii' | 'binary' | 'json1k';
  /** dd / fdatasync-loop: the case (of the same repetition) whose file bytes and batch size they copy. */
  reference?: string;
  /** shardlog only. */
  shards?: number;
  sync?: 'none' | 'batch';
  format?: 'framed' | 'lines';
  ringBytes?: number;
  /** sonic-boom only: fsync after every write. */
  fsync?: boolean;
  /** dd / fdatasync-loop: bytes to write; fdatasync-loop: bytes per write+fdatasync. */
  bytes?: number;
  batchBytes?: number;
  /** A fresh directory of its own under the bench's scratch directory. */
  dir: string;
  resultFile: string;
}

export interface DurableSpec {
  kind: 'durable';
  id: string;
  label: string;
  system: 'shardlog' | 'shardlog-sync' | 'sonic-boom';
  /** Offered load, entries per second. */
  rate: number;
  seconds: number;
  /** Seconds at the same load first, on the same log or stream, not recorded (0: none). */
  warmupSeconds: number;
  dir: string;
  resultFile: string;
}

export interface AllocSpec {
  kind: 'alloc';
  id: string;
  label: string;
  shape: 'ascii' | 'binary';
  n: number;
  dir: string;
  resultFile: string;
}

export interface MicroSpec {
  kind: 'micro';
  id: string;
  label: string;
  /** mitata's minimum measured CPU time per benchmark, ms. */
  minCpuMs: number;
  dir: string;
  resultFile: string;
}

export type Spec = E2ESpec | DurableSpec | AllocSpec | MicroSpec;

export interface E2EResult {
  kind: 'e2e';
  id: string;
  label: string;
  system: System;
  n: number;
  /** Entries per second, first append to the last byte fdatasynced. NaN for dd / fdatasync-loop. */
  entriesPerSec: number;
  /** File bytes (what the disk got: framing, newlines, headers) per second, in MB (10^6 bytes). */
  mbPerSec: number;
  fileBytes: number;
  payloadBytes: number;
  wallMs: number;
  /** Time until the last append returned (the producer's own pace). */
  appendMs: number;
  /** Main-thread CPU per entry, ns (NaN where no Node main thread does the work, e.g. dd). */
  cpuNsPerEntry: number;
  cpuSource: CpuSource | 'n/a';
  peakRssMiB: number;
  /** GCs of the main thread's heap during the append loop. */
  gcs: number;
  /** Heap growth over the append loop, divided by the entries (bytes). */
  heapBytesPerEntry: number;
  verification: Verification;
  /** System-specific counters (shardlog: batches, fsyncs, meanBatchBytes; dd: its own seconds). */
  extra: Record<string, number | string>;
}

export interface DurableResult {
  kind: 'durable';
  id: string;
  label: string;
  system: 'shardlog' | 'shardlog-sync' | 'sonic-boom';
  offeredPerSec: number;
  achievedPerSec: number;
  entries: number;
  /** Latency from an entry's scheduled time to its durable ack, microseconds. */
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  fsyncs: number;
  /** Time the process's threads spent runnable but waiting for a CPU during the run (ms). */
  runqWaitMs: number;
  verification: Verification;
}

export interface AllocResult {
  kind: 'alloc';
  id: string;
  label: string;
  shape: 'ascii' | 'binary';
  n: number;
  gcs: number;
  /** Kinds of those GCs, comma-separated (minor = scavenge of the young generation, major = mark-compact). */
  gcKinds: string;
  heapGrowthBytes: number;
  bytesPerAppend: number;
  cpuNsPerAppend: number;
  cpuSource: CpuSource;
  appendsPerSec: number;
  ringFullWaits: number;
  entriesWritten: number;
}

export interface MicroRow {
  name: string;
  /** Mean ns per unit (per entry, or per KiB for CRC). */
  ns: number;
  p50: number;
  p99: number;
  unit: 'entry' | 'KiB';
  /** Heap bytes allocated per unit (mitata's heap counter), NaN if not measured. */
  bytesPerUnit: number;
  samples: number;
}

export interface MicroResult {
  kind: 'micro';
  id: string;
  label: string;
  rows: MicroRow[];
  cpu: string;
}

export type Result = E2EResult | DurableResult | AllocResult | MicroResult;
