/** Clean mode: load, close, then verify that every appended entry is there exactly once, byte for byte. */
import { describeError } from './collector.js';
import type { StressRun } from './run-context.js';
import { runSession } from './session.js';

export async function runClean(run: StressRun, dir: string): Promise<void> {
  const { coll, failures } = run;
  const ph = run.startPhase('', 0);
  await runSession(run.session(dir, 0), coll.on, run.stop);
  const end = ph.end!;
  if (end.failure) failures.push(`the log failed during the run: ${describeError(end.failure)}`);
  if (end.closeError && !end.failure) failures.push(`close() failed: ${describeError(end.closeError)}`);
  failures.push(...end.workerErrors, ...coll.problemsOf(ph));
  for (const id of ph.producers) {
    const d = coll.done.get(id);
    if (d?.appendError && !end.failure) failures.push(`producer ${id}: append failed: ${describeError(d.appendError)}`);
  }
  run.verify(dir);
}
