/**
 * The stress runner: many producers, faults, and proof that nothing was lost.
 *
 * Modes (one per run), one module each:
 *   clean        (mode-clean.ts) load, close, verify that every appended entry is there exactly once,
 *                byte for byte
 *   kill         (mode-kill.ts) a forked writer child loads and is SIGKILLed at a (seeded) random
 *                moment; the runner reopens (recovery) and verifies every entry the child reported
 *                acknowledged; --tear then damages a last segment before the reopen (see tear.ts);
 *                --cycles repeats
 *   full-disk    (mode-full-disk.ts) a small tmpfs / loop filesystem, nearly filled: the log must fail
 *                loudly (ShardFailedError, cause ENOSPC; durable() rejects), then recover once the
 *                filler is deleted
 *   writer-exit  (mode-writer-exit.ts) every shard writer thread exits after N batches: the log must
 *                fail loudly, not hang, and recover on reopen
 * Every mode ends with verify.ts over the whole log. The state they share is a StressRun
 * (run-context.ts); sessions (session.ts, load.ts) produce the load.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from '@shardlog/workers';
import { runClean } from './mode-clean.js';
import { runFullDisk } from './mode-full-disk.js';
import { runKill } from './mode-kill.js';
import { runWriterExit } from './mode-writer-exit.js';
import type { StressOptions } from './options.js';
import type { StressReport } from './report-types.js';
import { StressRun, type RunIO } from './run-context.js';

export { modeOf, replayCommand, type RunIO } from './run-context.js';
export type { KillCycle, StressMode, StressReport } from './report-types.js';

export async function runStress(opts: Partial<StressOptions>, io: RunIO = {}): Promise<StressReport> {
  const run = new StressRun(opts, io);
  if (run.mode === 'full-disk') {
    await runFullDisk(run);
    return run.finish();
  }
  const parent = path.resolve(run.o.dir ?? os.tmpdir());
  try {
    fs.mkdirSync(parent, { recursive: true }); // a missing --dir is made
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new InvalidArgumentError(`--dir ${run.o.dir} is not a directory${code === 'ENOTDIR' ? ' (a part of its path is a file)' : ''}`);
    throw e;
  }
  const dir = fs.mkdtempSync(path.join(parent, 'shardlog-stress-'));
  run.report.dir = dir;
  try {
    if (run.mode === 'clean') await runClean(run, dir);
    else if (run.mode === 'kill') await runKill(run, dir);
    else await runWriterExit(run, dir);
  } finally {
    const report = run.finish();
    // keep the evidence of a failed run; remove a passing one unless asked to keep it
    report.kept = run.o.keep || !report.ok;
    if (!report.kept) fs.rmSync(dir, { recursive: true, force: true });
  }
  return run.report;
}
