/**
 * Starting a log's shard writer threads: one Worker per shard, its control-plane proxy, and a start
 * that either resolves with every shard's recovery report or rejects with a clear error. A thread
 * that cannot start (its script missing, as in a bundle that left it out, or throwing while it
 * loads) is a WriterStartError with the cause, never an unhandled 'error' event.
 */
import { Worker } from 'node:worker_threads';
import {
  Comlink,
  CONTROL_BYTES,
  deserializeError,
  nodeEndpoint,
  SHARD_WRITER_URL,
  WriterStartError,
  type ShardRecovery,
  type ShardWriterApi,
  type ShardWriterData,
  type SerializedError,
} from '@shardlog/workers';

/** What a log does with its writer's thread: its own Worker, or its share of a pool thread. */
export interface WriterThread {
  ref(): void;
  unref(): void;
  on(event: 'message', listener: (m: { type?: string; error?: SerializedError }) => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  /** Stop the writer (its own thread: terminate it; a pool thread: detach the writer from it). */
  terminate(): Promise<unknown>;
}

export interface ShardHandle {
  worker: WriterThread;
  rpc: ShardWriterApi;
  ring: SharedArrayBuffer;
  i32: Int32Array;
  b64: BigInt64Array;
  exited: Promise<number>;
  /** Settles with the first 'error' the thread emitted (a listener is always attached). */
  errored: Promise<Error>;
}

/** Start one writer thread (not yet recovering: see startWriters). */
export function spawnWriter(data: ShardWriterData): ShardHandle {
  const url = data.testFaults?.writerUrl !== undefined ? new URL(data.testFaults.writerUrl) : SHARD_WRITER_URL;
  const worker = new Worker(url, { workerData: data, name: `shardlog-${data.shard}` });
  const errored = new Promise<Error>((r) => worker.on('error', r));
  const exited = new Promise<number>((r) => worker.once('exit', r));
  return {
    worker,
    rpc: Comlink.wrap<ShardWriterApi>(nodeEndpoint(worker)) as unknown as ShardWriterApi,
    ring: data.ring,
    i32: new Int32Array(data.ring),
    b64: new BigInt64Array(data.ring, 0, CONTROL_BYTES / 8),
    exited,
    errored,
  };
}

/**
 * Let every writer recover its shard and start consuming. Resolves with the recovery reports;
 * rejects with recovery's own error (CorruptLogError, LogFormatError, ...) or a WriterStartError.
 */
export async function startWriters(handles: ShardHandle[]): Promise<ShardRecovery[]> {
  const results = await Promise.all(handles.map((h, i) => startOne(h, i)));
  const failed = results.find((r) => r instanceof Error);
  if (failed) throw failed;
  return results as ShardRecovery[];
}

async function startOne(h: ShardHandle, shard: number): Promise<ShardRecovery | Error> {
  const r = await Promise.race([
    h.rpc.started(),
    h.errored.then((e) => new WriterStartError(shard, e.message, { cause: e })),
    h.exited.then((code) => new WriterStartError(shard, `the thread exited during start (code ${code})`)),
  ]);
  if (r instanceof Error) return r;
  return r.ok ? r.recovery : deserializeError(r.error);
}
