/**
 * A description of the machine a bench ran on: CPU model (from /proc/cpuinfo where there is one),
 * core count, memory, OS, Node version and the filesystem the runs wrote to.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { cpuSource, describeCpuSource } from './cpu.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  v8: string;
  filesystem: string;
  cpuTime: string;
  date: string;
  /** 1-minute load average when the bench started (other work on the machine skews results). */
  loadAtStart: number;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** "ext4 on /dev/vda (rw,relatime)" for the filesystem holding dir, as well as we can tell. */
function filesystemOf(dir: string): string {
  const r = spawnSync('findmnt', ['-no', 'FSTYPE,SOURCE,OPTIONS', '-T', dir], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) {
    const [type, source, opts] = r.stdout.trim().split(/\s+/);
    return `${type} on ${source}${opts ? ` (${opts.split(',').slice(0, 3).join(',')})` : ''}`;
  }
  const d = spawnSync('df', ['-T', dir], { encoding: 'utf8' });
  if (d.status === 0) {
    const line = d.stdout.trim().split('\n')[1];
    if (line) {
      const f = line.split(/\s+/);
      return `${f[1]} on ${f[0]}`;
    }
  }
  return 'unknown';
}

export function describeMachine(dir: string, loadAtStart = os.loadavg()[0]): Machine {
  return {
    loadAtStart,
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    filesystem: filesystemOf(dir),
    cpuTime: describeCpuSource(cpuSource),
    date: new Date().toISOString(),
  };
}
