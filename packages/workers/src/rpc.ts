/**
 * The control plane between a log and its shard writers: comlink over the worker's MessagePort.
 * Used for open (recovery report), rotate and close — never per entry or per batch.
 */
import type * as ComlinkApi from 'comlink';
import * as ComlinkEsm from 'comlink/dist/esm/comlink.mjs';
import nodeAdapter from 'comlink/dist/esm/node-adapter.mjs';
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from './errors.js';
import type { ShardRecovery } from './recovery.js';

// The ESM builds are loaded at run time (comlink has no "exports" map); the published declarations
// name only comlink's own typed entry, so a consumer's strict tsc needs nothing unshipped.
export const Comlink = ComlinkEsm as unknown as typeof ComlinkApi;
export const nodeEndpoint: (nep: unknown) => ComlinkApi.Endpoint = nodeAdapter;
export type Remote<T> = ComlinkApi.Remote<T>;

export type StartResult = { ok: true; recovery: ShardRecovery } | { ok: false; error: SerializedError; /** the thread threw while loading (before recovery) */ atLoad?: boolean };

/** What a shard writer exposes to its log. */
export interface ShardWriterApi {
  /** Resolves when recovery is done and the writer is consuming the ring. */
  started(): Promise<StartResult>;
  /** Close (and sync) the open segment; the next batch starts a new one. Resolves once it is closed. */
  rotate(): Promise<void>;
  /** Drain everything published, sync, close the files; resolves with the final state. */
  close(): Promise<{ ok: boolean; error?: SerializedError }>;
}

export type SyncPolicy = { kind: 'none' } | { kind: 'batch' } | { kind: 'ms'; value: number } | { kind: 'bytes'; value: number };

/** Faults injected by tests into the writer's system calls (never set by users). */
export interface TestFaults {
  /** Fail the Nth writev (1-based) with `code`. */
  writeFailAt?: number;
  /** Fail the Nth fdatasync (1-based) with `code`. */
  syncFailAt?: number;
  /** Exit the worker thread abruptly after N batches. */
  exitAfterBatches?: number;
  /** Sleep this long after every batch written (a slow disk, for tests that need data still in the ring). */
  batchDelayMs?: number;
  /** Start the ring's 32-bit positions here instead of 0 (to test their wrap-around without 4 GiB of traffic). */
  ringStart?: number;
  /**
   * Write new segments in this format version (1: records with their own CRC, as older builds did;
   * default 2). SHARDLOG_TEST_SEGMENT_VERSION=1 in the environment does the same for every log.
   */
  segmentVersion?: 1 | 2;
  code?: string;
  /** Save the writer's sync trace (writer-trace.ts) to this file when it finishes (the latency breakdown). */
  syncTrace?: string;
  /** Throw at the writer thread's top level (a writer that cannot load). */
  throwAtStart?: boolean;
  /** Start the writer threads from this script instead of the shipped one (e.g. a missing file). */
  writerUrl?: string;
}

export interface ShardWriterData {
  ring: SharedArrayBuffer;
  global: SharedArrayBuffer;
  shard: number;
  dir: string;
  format: 'framed' | 'lines';
  sync: SyncPolicy;
  segmentBytes: number;
  maxBatchBytes: number;
  skipCorrupt: boolean;
  /** Encryption at rest: new segments are sealed under keys[keyId]; every key may open old ones. */
  encryption?: WriterEncryption;
  testFaults?: TestFaults;
  /** Set when the writer shares its thread with other logs' writers (a log manager's pool). */
  hosted?: { turnBytes: number };
  /** One Int32 word per shard, raised once this writer's StartResult is on startPort (writer-start.ts). */
  startWords?: SharedArrayBuffer;
  /** Where the writer posts its StartResult (transferred to the thread). */
  startPort?: MessagePort;
}

/**
 * A writer host: one pool thread of a log manager, running many shard writers (one per log shard),
 * each known by a key. attach() builds one and lets it recover; the rest act on one writer.
 */
export interface WriterHostApi {
  attach(key: string, data: ShardWriterData): Promise<StartResult>;
  rotate(key: string): Promise<void>;
  close(key: string): Promise<{ ok: boolean; error?: SerializedError }>;
  /** Close the writer if it is still attached (after a failed open); never fails. */
  detach(key: string): Promise<void>;
  /** How many writers this thread hosts. */
  hosted(): Promise<number>;
}

export interface WriterEncryption {
  keyId: string;
  keys: Record<string, Uint8Array>;
  /** The log's id (manifest `id`): segment keys are bound to it. */
  logId: string;
}
