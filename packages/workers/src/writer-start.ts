/**
 * A shard writer's start, signalled without the event loop: the writer posts its StartResult on a
 * MessagePort of its own and then sets its word in a shared Int32Array (one word per shard) and
 * notifies it. The log's thread can so wait for recovery either asynchronously (Atomics.waitAsync)
 * or synchronously (Atomics.wait, for openLogSync and for an exit that comes before the open ended),
 * and then read the result with receiveMessageOnPort.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { serializeError } from './errors.js';
import type { StartResult } from './rpc.js';

/** The word's value while the writer is still starting, and once its result is on the port. */
export const START_PENDING = 0;
export const START_SIGNALLED = 1;

/** Writer side: post the result, then raise this shard's word. Only the first call counts. */
export function signalStart(words: SharedArrayBuffer | undefined, port: MessagePort | undefined, shard: number, result: StartResult): void {
  if (!words || !port) return;
  const w = new Int32Array(words);
  if (Atomics.load(w, shard) !== START_PENDING) return;
  port.postMessage(result);
  Atomics.store(w, shard, START_SIGNALLED);
  Atomics.notify(w, shard);
}

/** Writer side: the thread fails before its writer could start (a throw at load). */
export function signalStartFailure(words: SharedArrayBuffer | undefined, port: MessagePort | undefined, shard: number, e: unknown): void {
  signalStart(words, port, shard, { ok: false, error: serializeError(e), atLoad: true });
}

/** Log side: the result posted for a signalled shard (undefined if nothing is there). */
export function takeStartResult(port: MessagePort): StartResult | undefined {
  const m = receiveMessageOnPort(port);
  return m ? (m.message as StartResult) : undefined;
}
