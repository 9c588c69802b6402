/**
 * Runs one spec in a fresh child process (`node --expose-gc child.js <spec>`), waits for it, and
 * reads its result file. A child that crashes, times out or writes no result is an error carrying
 * the tail of its stderr; one that times out is first asked for a Node.js diagnostic report
 * (SIGUSR2), whose JavaScript stacks of the main thread and each worker thread (the shard writers)
 * are added to the error, so that a hang says where it hung. The run's scratch directory is removed
 * afterwards either way.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
  const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardlog-bench-report-'));
  const reportArgs = ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`];
  const child = spawn(process.execPath, ['--expose-gc', ...reportArgs, ...(opts.nodeArgs ?? []), CHILD_SCRIPT, JSON.stringify(spec)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-8000);
  });
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  let hung = '';
  const timer = setTimeout(() => {
    child.kill('SIGUSR2'); // a diagnostic report first, then the kill
    setTimeout(() => {
      hung = stacksOf(reportDir);
      child.kill('SIGKILL');
    }, 3000).unref();
  }, timeoutMs);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c, s) => resolve([c, s]));
    });
    if (code !== 0) {
      const why = signal ? `was killed by ${signal}${signal === 'SIGKILL' ? ` (time limit ${timeoutMs / 1000} s?)` : ''}` : `exited with code ${code}`;
      throw new ChildFailed(`${spec.label}: child process ${why}\n${stderr.trim()}${hung}`, stderr);
    }
    if (!fs.existsSync(spec.resultFile)) throw new ChildFailed(`${spec.label}: child wrote no result\n${stderr.trim()}`, stderr);
    return JSON.parse(fs.readFileSync(spec.resultFile, 'utf8')) as R;
  } finally {
    clearTimeout(timer);
    fs.rmSync(spec.resultFile, { force: true });
    fs.rmSync(reportDir, { recursive: true, force: true });
    if (!opts.keepFiles) fs.rmSync(spec.dir, { recursive: true, force: true });
  }
}

interface ReportThread {
  header?: { threadId?: number };
  javascriptStack?: { message?: string; stack?: string[] };
}

/** The JavaScript stacks in the diagnostic report a timed-out child wrote (empty if none). */
function stacksOf(dir: string): string {
  try {
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) return '\n(no diagnostic report from the child)';
    const r = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as ReportThread & { workers?: ReportThread[] };
    const one = (t: ReportThread, name: string) => `${name}: ${t.javascriptStack?.message ?? ''}\n  ${(t.javascriptStack?.stack ?? []).slice(0, 12).join('\n  ')}`;
    return '\nwhere the child was when it timed out:\n' + [one(r, 'main thread'), ...(r.workers ?? []).map((w, i) => one(w, `worker ${w.header?.threadId ?? i + 1}`))].join('\n');
  } catch (e) {
    return `\n(diagnostic report unreadable: ${(e as Error).message})`;
  }
}
