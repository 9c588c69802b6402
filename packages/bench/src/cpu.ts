/**
 * CPU time of the main thread alone.
 *
 * process.cpuUsage() adds up every thread of the process: shardlog's writer threads, thread-stream's
 * worker, libuv's pool doing sonic-boom's async writes, V8's GC helpers. The cost a logger puts on
 * the application is what its main thread spends, so on Linux we read the main thread's own
 * counters: /proc/self/task/<pid>/schedstat (nanoseconds on the CPU), or, where the kernel lacks
 * it, utime+stime from /proc/self/task/<pid>/stat (clock ticks, 10 ms each). Elsewhere we fall
 * back to process.cpuUsage() and say so in the results ("process" source): that number includes
 * the background threads and overstates the main thread's cost.
 */
import * as fs from 'node:fs';

export type CpuSource = 'schedstat' | 'stat' | 'process';

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const STAT = `/proc/self/task/${process.pid}/stat`;
const TICK_NS = 10_000_000; // USER_HZ is 100 on every Linux ABI Node runs on

function readSchedstat(): number {
  // "<ns on cpu> <ns waiting> <timeslices>"
  const s = fs.readFileSync(SCHEDSTAT, 'latin1');
  return Number(s.slice(0, s.indexOf(' ')));
}

function readStat(): number {
  const s = fs.readFileSync(STAT, 'latin1');
  // fields after "(comm)": state is field 3; utime and stime are fields 14 and 15
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_NS;
}

function readProcess(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

function pick(): { source: CpuSource; read: () => number } {
  if (process.platform === 'linux') {
    try {
      if (Number.isFinite(readSchedstat())) return { source: 'schedstat', read: readSchedstat };
    } catch {
      /* no schedstat: try stat */
    }
    try {
      if (Number.isFinite(readStat())) return { source: 'stat', read: readStat };
    } catch {
      /* no procfs */
    }
  }
  return { source: 'process', read: readProcess };
}

const chosen = pick();

/** Where mainThreadCpuNs() reads from. */
export const cpuSource: CpuSource = chosen.source;

/** Nanoseconds of CPU the main thread has used so far (see cpuSource for how exact). */
export function mainThreadCpuNs(): number {
  return chosen.read();
}

export function describeCpuSource(s: CpuSource): string {
  switch (s) {
    case 'schedstat':
      return 'main thread only, /proc/self/task/<pid>/schedstat (ns)';
    case 'stat':
      return 'main thread only, utime+stime of /proc/self/task/<pid>/stat (10 ms ticks)';
    case 'process':
      return 'process.cpuUsage(): ALL threads (writer/worker threads included), not the main thread alone';
  }
}

/**
 * Milliseconds all threads of this process have spent runnable but waiting for a CPU (field 2 of
 * /proc/self/task/<tid>/schedstat, summed), NaN where unavailable. Growing fast means the machine
 * is busy with something else: the numbers of that run measure contention as much as the code.
 */
export function runQueueWaitMs(): number {
  if (process.platform !== 'linux') return NaN;
  let sum = 0;
  try {
    for (const t of fs.readdirSync('/proc/self/task')) {
      try {
        const f = fs.readFileSync(`/proc/self/task/${t}/schedstat`, 'latin1').split(' ');
        sum += Number(f[1]);
      } catch {
        /* the thread exited meanwhile */
      }
    }
  } catch {
    return NaN;
  }
  return sum / 1e6;
}
