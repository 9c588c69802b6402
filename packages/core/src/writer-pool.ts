/**
 * A log manager's writer pool: a fixed number of writer host threads (writer-host.ts in
 * @shardlog/workers), started lazily, each hosting the shard writers of many logs. A new writer
 * goes to the thread hosting the fewest. Each writer is seen by its log as a ShardHandle whose
 * "thread" is its share of the pool thread: ref() and unref() are counted per writer, 'message' and
 * 'error' reach only the writers concerned, and terminate() detaches the writer, not the thread.
 */
import { Worker } from 'node:worker_threads';
import {
  Comlink,
  CONTROL_BYTES,
  nodeEndpoint,
  workerExecArgv,
  WRITER_HOST_URL,
  type SerializedError,
  type ShardWriterData,
  type Remote,
  type WriterHostApi,
} from '@shardlog/workers';
import type { ShardHandle, WriterThread } from './writers.js';

type MessageListener = (m: { type?: string; error?: SerializedError }) => void;

/** One pool thread. */
class HostThread {
  readonly worker: Worker;
  readonly rpc: Remote<WriterHostApi>;
  readonly exited: Promise<number>;
  /** Writers attached (or attaching). */
  writers = 0;
  /** The thread exited (a writer's fatal fault): its writers failed, it takes no new ones. */
  dead = false;
  private refs = 0;
  readonly onMessage = new Map<string, MessageListener>();
  readonly onError = new Set<(e: Error) => void>();
  /** Per attached writer: settle its `exited` / `errored` (dropped on detach, so a closed log is not kept alive). */
  readonly exitWaiters = new Map<string, (code: number) => void>();
  readonly errorWaiters = new Map<string, (e: Error) => void>();

  constructor(index: number) {
    this.worker = new Worker(WRITER_HOST_URL, { name: `shardlog-pool-${index}`, execArgv: workerExecArgv() });
    this.rpc = Comlink.wrap<WriterHostApi>(nodeEndpoint(this.worker));
    this.exited = new Promise<number>((r) => this.worker.once('exit', r));
    this.worker.on('message', (m: { key?: string; type?: string }) => {
      if (m && m.type === 'failed' && typeof m.key === 'string') this.onMessage.get(m.key)?.(m as never);
    });
    this.worker.on('error', (e) => {
      for (const w of this.errorWaiters.values()) w(e);
      for (const l of this.onError) l(e);
    });
    this.worker.once('exit', (code) => {
      this.dead = true;
      for (const w of this.exitWaiters.values()) w(code);
    });
    this.worker.unref();
  }

  ref(): void {
    if (this.refs++ === 0) this.worker.ref();
  }

  unref(): void {
    if (--this.refs === 0) this.worker.unref();
  }
}

/** One writer's share of its pool thread. */
class HostedWriter implements WriterThread {
  private reffed = true;
  private errorListener: ((e: Error) => void) | undefined;
  private detached: Promise<void> | undefined;

  constructor(
    private readonly thread: HostThread,
    private readonly key: string,
  ) {
    thread.writers++;
    thread.ref(); // like a new Worker: keeps the process alive until the log unrefs it
  }

  ref(): void {
    if (this.reffed) return;
    this.reffed = true;
    this.thread.ref();
  }

  unref(): void {
    if (!this.reffed) return;
    this.reffed = false;
    this.thread.unref();
  }

  on(event: 'message' | 'error', listener: MessageListener | ((e: Error) => void)): this {
    if (event === 'message') this.thread.onMessage.set(this.key, listener as MessageListener);
    else {
      this.errorListener = listener as (e: Error) => void;
      this.thread.onError.add(this.errorListener);
    }
    return this;
  }

  terminate(): Promise<void> {
    this.detached ??= this.detach();
    return this.detached;
  }

  private async detach(): Promise<void> {
    const t = this.thread;
    try {
      await Promise.race([t.rpc.detach(this.key), t.exited]);
    } finally {
      t.onMessage.delete(this.key);
      t.exitWaiters.delete(this.key);
      t.errorWaiters.delete(this.key);
      if (this.errorListener) t.onError.delete(this.errorListener);
      t.writers--;
      this.unref();
    }
  }
}

export class WriterPool {
  private readonly threads: HostThread[] = [];
  private nextKey = 1;
  /** Worker threads this pool has created (a dead one is replaced). */
  threadsCreated = 0;

  constructor(
    readonly size: number,
    private readonly turnBytes: number,
  ) {}

  /** Threads running now. */
  get threadCount(): number {
    return this.threads.length;
  }

  /** Writers hosted now, over all threads. */
  get hostedWriters(): number {
    return this.threads.reduce((a, t) => a + t.writers, 0);
  }

  /** A ShardHandle for a writer on the least loaded thread; its rpc.started() attaches and recovers it. */
  readonly spawn = (data: ShardWriterData): ShardHandle => {
    const thread = this.pick();
    const key = String(this.nextKey++);
    const wd: ShardWriterData = { ...data, hosted: { turnBytes: this.turnBytes } };
    const rpc = thread.rpc;
    const exited = new Promise<number>((r) => thread.exitWaiters.set(key, r));
    const errored = new Promise<Error>((r) => thread.errorWaiters.set(key, r));
    return {
      worker: new HostedWriter(thread, key),
      rpc: {
        started: () => rpc.attach(key, wd),
        rotate: () => rpc.rotate(key),
        close: () => rpc.close(key),
      },
      ring: data.ring,
      i32: new Int32Array(data.ring),
      b64: new BigInt64Array(data.ring, 0, CONTROL_BYTES / 8),
      exited,
      errored,
      shard: data.shard,
    };
  };

  /** Forget the threads that died (their logs failed); true if there were any. */
  reap(): boolean {
    const before = this.threads.length;
    for (let i = this.threads.length - 1; i >= 0; i--) if (this.threads[i].dead) this.threads.splice(i, 1);
    return this.threads.length !== before;
  }

  private pick(): HostThread {
    this.reap(); // new logs go to live threads (a new one replaces a dead one)
    let best: HostThread | undefined;
    for (const t of this.threads) if (!best || t.writers < best.writers) best = t;
    if (best && (best.writers === 0 || this.threads.length >= this.size)) return best;
    const t = new HostThread(this.threadsCreated++);
    this.threads.push(t);
    return t;
  }

  /** Stop every thread (the logs are closed first). */
  async close(): Promise<void> {
    const ts = this.threads.splice(0);
    await Promise.all(ts.map((t) => t.worker.terminate()));
  }
}
