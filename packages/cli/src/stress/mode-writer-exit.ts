/**
 * Writer-exit mode: every shard writer thread exits after N batches (a test fault); the log must
 * fail loudly, not hang, and recover on reopen.
 */
import { expectLoudFailure } from './loud-failure.js';
import type { StressRun } from './run-context.js';
import { runSession } from './session.js';

export async function runWriterExit(run: StressRun, dir: string): Promise<void> {
  const o = run.o;
  run.report.faults = { writerExitAfterBatches: o.writerExit };
  const ph = run.startPhase('', 0);
  await runSession(run.session(dir, 0, { testFaults: { exitAfterBatches: o.writerExit }, durationMs: o.durationMs ?? 30_000, entries: undefined }), run.coll.on, run.stop);
  await expectLoudFailure(run, dir, ph, 'a writer thread exit', (e) => e.causeCode === 'WORKER_EXIT' || /exited/.test(e.message));
}
