/**
 * A writer host thread: one thread of a log manager's pool. It runs many ShardWriter objects (one per
 * shard of each log it serves), attached and detached by control messages (comlink). They share the
 * thread's event loop: each drains at most its turn's bytes, then yields to the others, and syncs on
 * libuv's pool so one log's fdatasync never stalls the rest. A failure is posted with its writer's key.
 */
import { parentPort } from 'node:worker_threads';
import { serializeError } from './errors.js';
import { Comlink, nodeEndpoint, type ShardWriterApi, type ShardWriterData, type StartResult, type WriterHostApi } from './rpc.js';
import { ShardWriter } from './shard-writer-loop.js';

interface Hosted {
  writer: ShardWriter;
  api: ShardWriterApi;
}

const writers = new Map<string, Hosted>();

function hostedWriter(key: string): Hosted {
  const h = writers.get(key);
  if (!h) throw new Error(`no writer '${key}' on this thread`);
  return h;
}

async function attach(key: string, data: ShardWriterData): Promise<StartResult> {
  if (writers.has(key)) return { ok: false, error: serializeError(new Error(`writer '${key}' is already attached`)) };
  const port = { postMessage: (m: unknown) => parentPort!.postMessage({ ...(m as object), key }) };
  const writer = new ShardWriter(data, port);
  const h = { writer, api: writer.api() };
  writers.set(key, h);
  const r = await h.api.started();
  if (!r.ok) writers.delete(key);
  return r;
}

async function close(key: string): Promise<{ ok: boolean; error?: ReturnType<typeof serializeError> }> {
  const h = hostedWriter(key);
  try {
    return await h.api.close();
  } finally {
    writers.delete(key);
  }
}

const api: WriterHostApi = {
  attach,
  rotate: (key) => hostedWriter(key).api.rotate(),
  close,
  async detach(key) {
    if (writers.has(key)) await close(key).catch(() => undefined);
  },
  hosted: async () => writers.size,
};

// The thread ends without a clean close (process.exit, terminate): no producer of any log is left waiting.
process.on('exit', () => {
  for (const h of writers.values()) h.writer.onExit();
});

Comlink.expose(api, nodeEndpoint(parentPort!));
