/**
 * Measuring inside a child process: wall clock, main-thread CPU, GCs and heap growth around a
 * loop, and the process's peak RSS. Children run with --expose-gc so the heap starts clean.
 */
import * as fs from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { cpuSource, mainThreadCpuNs, runQueueWaitMs, type CpuSource } from './cpu.js';

export function forceGc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Bytes in use on the V8 heap now. */
export function heapUsed(): number {
  return getHeapStatistics().used_heap_size;
}

export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Counts GCs (PerformanceObserver 'gc' entries) between two performance.now() instants. */
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak-callbacks' };

export class GcWatch {
  private readonly seen: { t: number; kind: string }[] = [];
  private readonly obs: PerformanceObserver;
  constructor() {
    this.obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
        this.seen.push({ t: e.startTime, kind: GC_KINDS[kind] ?? `kind ${kind}` });
      }
    });
    this.obs.observe({ entryTypes: ['gc'] });
  }
  /** GCs that started in [t0, t1] (ms, performance.now()); waits for buffered entries first. */
  async count(t0: number, t1: number): Promise<number> {
    return (await this.list(t0, t1)).length;
  }
  /** The kinds (minor = scavenge, major = mark-compact, ...) of the GCs in [t0, t1]. */
  async list(t0: number, t1: number): Promise<string[]> {
    await new Promise((r) => setTimeout(r, 30));
    return this.seen.filter((g) => g.t >= t0 && g.t <= t1).map((g) => g.kind);
  }
  stop(): void {
    this.obs.disconnect();
  }
}

/** A snapshot of the counters a measured section starts and ends with. */
export interface Mark {
  t: number;
  cpu: number;
  heap: number;
  /** Run-queue wait of all threads so far (ms): contention from outside the run. */
  runq: number;
  /** CPU of every thread of this process so far (ns, process.cpuUsage: user + system). */
  proc: number;
}

export function mark(): Mark {
  const runq = runQueueWaitMs();
  const u = process.cpuUsage();
  return { t: performance.now(), cpu: mainThreadCpuNs(), heap: heapUsed(), runq, proc: (u.user + u.system) * 1000 };
}

export { cpuSource, runQueueWaitMs, type CpuSource };

/** Flush a file's data to the disk (the clock of every non-durable run stops after this). */
export function fdatasyncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Yield to the event loop (lets I/O callbacks run). */
export function yieldLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
