/**
 * Starting a log's shard writer threads: one Worker per shard, its control-plane proxy, and a start
 * that either resolves with every shard's recovery report or rejects with a clear error. A thread
 * that cannot start (its script missing, as in a bundle that left it out, or throwing while it
 * loads) is a WriterStartError with the cause, never an unhandled 'error' event.
 *
 * Each writer recovers as soon as it loads and signals its result through a shared word and a
 * MessagePort (writer-start.ts), so the start can be awaited (startWriters) or waited for
 * synchronously (startWritersSync: openLogSync, or an exit that comes before an open ended).
 */
import * as fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import {
  Comlink,
  CONTROL_BYTES,
  deserializeError,
  InvalidArgumentError,
  nodeEndpoint,
  SHARD_WRITER_URL,
  START_PENDING,
  takeStartResult,
  workerExecArgv,
  WriterStartError,
  type Remote,
  type ShardRecovery,
  type ShardWriterApi,
  type ShardWriterData,
  type SerializedError,
  type StartResult,
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
  /**
   * The start signal of a writer on its own thread: this shard's word in `startWords`, and the port
   * its StartResult comes on. A writer on a log manager's pool thread has neither: its start is the
   * pool's attach() call, behind rpc.started().
   */
  startWords?: Int32Array;
  startPort?: MessagePort;
  shard: number;
  /** The start's outcome, once read from the port (read once, by whichever wait got there first). */
  started?: ShardRecovery | Error;
}

/** The key of the writer script in thread-stream's bundler convention (globalThis.__bundlerPathsOverrides). */
export const BUNDLER_KEY = 'shardlog-shard-writer';

/**
 * The writer thread's script: the `workerUrl` option, else globalThis.__bundlerPathsOverrides
 * ['shardlog-shard-writer'] (set by a bundled app, as for pino's thread-stream), else the shipped file.
 */
export function writerScript(workerUrl: string | URL | undefined): URL {
  const overrides = (globalThis as { __bundlerPathsOverrides?: Record<string, unknown> }).__bundlerPathsOverrides;
  const chosen = workerUrl ?? (overrides && typeof overrides === 'object' ? overrides[BUNDLER_KEY] : undefined);
  if (chosen === undefined) return SHARD_WRITER_URL;
  if (chosen instanceof URL) return chosen;
  const s = String(chosen);
  return s.startsWith('file:') ? new URL(s) : pathToFileURL(s);
}

/** Start one writer thread; it recovers its shard at once and signals the result (see startWriters). */
export function spawnWriter(data: ShardWriterData, script: URL, startWords: SharedArrayBuffer): ShardHandle {
  const url = data.testFaults?.writerUrl !== undefined ? new URL(data.testFaults.writerUrl) : script;
  const channel = new MessageChannel();
  const wd: ShardWriterData = { ...data, startWords, startPort: channel.port2 };
  const worker = new Worker(url, { workerData: wd, transferList: [channel.port2], name: `shardlog-${data.shard}`, execArgv: workerExecArgv() });
  channel.port1.unref();
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
    startWords: new Int32Array(startWords),
    startPort: channel.port1,
    shard: data.shard,
  };
}

/**
 * Let every writer recover its shard and start consuming. Resolves with the recovery reports;
 * rejects with recovery's own error (CorruptLogError, LogFormatError, ...) or a WriterStartError.
 */
export async function startWriters(handles: ShardHandle[]): Promise<ShardRecovery[]> {
  const results = await Promise.all(handles.map((h) => startOne(h)));
  return firstFailure(results);
}

async function startOne(h: ShardHandle): Promise<ShardRecovery | Error> {
  if (!h.startWords) return startPooled(h);
  const signalled = Atomics.waitAsync(h.startWords, h.shard, START_PENDING);
  const r = await Promise.race([
    signalled.async ? signalled.value.then(() => true) : Promise.resolve(true),
    h.errored.then((e) => new WriterStartError(h.shard, e.message, { cause: e })),
    h.exited.then((code) => new WriterStartError(h.shard, `the thread exited during start (code ${code})`)),
  ]);
  if (r instanceof Error) return r;
  return startResult(h);
}

/** A pool thread's writer: attached (and recovered) by its rpc.started() call. */
async function startPooled(h: ShardHandle): Promise<ShardRecovery | Error> {
  const r = await Promise.race([
    h.rpc.started(),
    h.errored.then((e) => new WriterStartError(h.shard, e.message, { cause: e })),
    h.exited.then((code) => new WriterStartError(h.shard, `the thread exited during start (code ${code})`)),
  ]);
  if (r instanceof Error) return (h.started = r);
  return (h.started = r.ok ? r.recovery : deserializeError(r.error));
}

/**
 * The same start, waited for synchronously (Atomics.wait) for at most `timeoutMs` in all. A thread
 * that cannot even load its script within that time is a WriterStartError.
 */
export function startWritersSync(handles: ShardHandle[], timeoutMs: number): ShardRecovery[] {
  const deadline = Date.now() + timeoutMs;
  if (handles.some((h) => !h.startWords)) throw new InvalidArgumentError('a synchronous open needs writer threads of its own (not a log manager\'s pool)');
  const results = handles.map((h) => {
    const words = h.startWords!;
    while (Atomics.load(words, h.shard) === START_PENDING) {
      const left = deadline - Date.now();
      if (left <= 0) return new WriterStartError(h.shard, `the writer thread did not start within ${timeoutMs} ms`);
      Atomics.wait(words, h.shard, START_PENDING, Math.min(left, 50));
    }
    return startResult(h);
  });
  return firstFailure(results);
}

/** True once every writer has signalled its start (nothing left to wait for). */
export function writersSignalled(handles: ShardHandle[]): boolean {
  return handles.every((h) => (h.startWords ? Atomics.load(h.startWords, h.shard) !== START_PENDING : h.started !== undefined));
}

function startResult(h: ShardHandle): ShardRecovery | Error {
  if (h.started === undefined) {
    const port = h.startPort!;
    const r: StartResult | undefined = takeStartResult(port);
    port.close();
    if (!r) h.started = new WriterStartError(h.shard, 'the writer signalled its start but posted no result');
    else if (r.ok) h.started = r.recovery;
    else if (r.atLoad) {
      const cause = deserializeError(r.error);
      h.started = new WriterStartError(h.shard, cause.message, { cause });
    } else h.started = deserializeError(r.error);
  }
  return h.started;
}

function firstFailure(results: (ShardRecovery | Error)[]): ShardRecovery[] {
  const failed = results.find((r) => r instanceof Error);
  if (failed) throw failed;
  return results as ShardRecovery[];
}

/** Before a synchronous open: a writer script given as a file must exist (a missing one could only time out). */
export function assertScriptExists(url: URL): void {
  if (url.protocol !== 'file:') return;
  const p = fileURLToPath(url);
  if (!fs.existsSync(p)) throw new WriterStartError(0, `the writer thread's script ${p} does not exist (in a bundle, pass workerUrl or set globalThis.__bundlerPathsOverrides['${BUNDLER_KEY}'])`);
}
