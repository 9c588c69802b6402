/**
 * Runs one spec in a fresh child process (`node --expose-gc child.js <spec>`), waits for it, and
 * reads its result file. A child that crashes, times out or writes no result is an error carrying
 * the tail of its stderr. The run's scratch directory is removed afterwards either way.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Result, Spec } from './types.js';

export const CHILD_SCRIPT = fileURLToPath(new URL('./child.js', import.meta.url));

export interface ChildOptions {
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  timeoutMs?: number;
  /** Keep the run's files (default: removed). */
  keepFiles?: boolean;
}

export class ChildFailed extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ChildFailed';
  }
}

export async function runInChild<R extends Result>(spec: Spec, opts: ChildOptions = {}): Promise<R> {
  fs.rmSync(spec.resultFile, { force: true });
  const child = spawn(process.execPath, ['--expose-gc', ...(opts.nodeArgs ?? []), CHILD_SCRIPT, JSON.stringify(spec)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-8000);
  });
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c, s) => resolve([c, s]));
    });
    if (code !== 0) {
      const why = signal ? `was killed by ${signal}${signal === 'SIGKILL' ? ` (time limit ${timeoutMs / 1000} s?)` : ''}` : `exited with code ${code}`;
      throw new ChildFailed(`${spec.label}: child process ${why}\n${stderr.trim()}`, stderr);
    }
    if (!fs.existsSync(spec.resultFile)) throw new ChildFailed(`${spec.label}: child wrote no result\n${stderr.trim()}`, stderr);
    return JSON.parse(fs.readFileSync(spec.resultFile, 'utf8')) as R;
  } finally {
    clearTimeout(timer);
    fs.rmSync(spec.resultFile, { force: true });
    if (!opts.keepFiles) fs.rmSync(spec.dir, { recursive: true, force: true });
  }
}
