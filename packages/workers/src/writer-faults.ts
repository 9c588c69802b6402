/**
 * The shard writer's test fault hooks (TestFaults, never set by users): failing the Nth writev or
 * fdatasync with a chosen code, a slow disk (sleep after each batch), and an abrupt thread exit.
 */
import type { TestFaults } from './rpc.js';

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Throw the injected error if `faults` asks for the `count`-th call of `what` (1-based) to fail. */
export function injectFault(faults: TestFaults | undefined, what: 'write' | 'sync', count: number): void {
  if (!faults) return;
  const at = what === 'write' ? faults.writeFailAt : faults.syncFailAt;
  if (at !== undefined && count >= at) {
    const code = faults.code ?? 'EIO';
    const err = new Error(`${code}: injected fault, ${what === 'write' ? 'writev' : 'fdatasync'}`) as NodeJS.ErrnoException;
    err.code = code;
    err.syscall = what === 'write' ? 'writev' : 'fdatasync';
    throw err;
  }
}

/** After a batch was written, before the ring is released: a slow disk. */
export function slowDisk(faults: TestFaults | undefined): void {
  if (faults?.batchDelayMs) Atomics.wait(sleepCell, 0, 0, faults.batchDelayMs);
}

/** After the Nth batch: the thread exits abruptly. */
export function exitAfterBatches(faults: TestFaults | undefined, batches: number): void {
  if (faults?.exitAfterBatches !== undefined && batches >= faults.exitAfterBatches) process.exit(70);
}

/** At the worker's top level: throw, as a writer that cannot load would. */
export function throwAtStart(faults: TestFaults | undefined): void {
  if (faults?.throwAtStart) throw new Error('injected fault: the writer thread threw while loading');
}
