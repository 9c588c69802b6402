/**
 * The shared part of the full-disk and writer-exit modes: the log must have failed loudly
 * (ShardFailedError with the expected cause, close() rejecting, every producer's append() throwing
 * and its durable() rejecting, none hanging), then reopen, load a little more and verify everything.
 */
import type { Phase } from './collector.js';
import { describeError } from './collector.js';
import type { ErrorInfo } from './messages.js';
import type { StressReport } from './report-types.js';
import { meanSize, type StressRun } from './run-context.js';
import { runSession } from './session.js';

type Faults = NonNullable<StressReport['faults']>;

export async function expectLoudFailure(run: StressRun, dir: string, ph: Phase, what: string, causeOk: (e: ErrorInfo) => boolean): Promise<void> {
  const f = (run.report.faults ??= {});
  checkFailure(run, ph, f, what, causeOk);
  checkProducersSawIt(run, ph, f);
  run.progress?.note(`the log failed: ${describeError(ph.end!.failure)}; ${f.appendErrors} producer(s) saw append() throw, ${f.durableProbesRejected} saw durable() reject`);
  const r = await run.reopen(dir);
  f.recovery = r.recovery;
  if (r.error) {
    run.failures.push(`reopening after the failure failed: ${describeError(r.error)}`);
    return;
  }
  await loadAfterRecovery(run, dir, ph, f);
  run.verify(dir);
}

/** The log itself: a ShardFailedError with the expected cause, and a close() that rejected. */
function checkFailure(run: StressRun, ph: Phase, f: Faults, what: string, causeOk: (e: ErrorInfo) => boolean): void {
  const { failures } = run;
  const end = ph.end!;
  f.failure = end.failure;
  f.closeError = end.closeError;
  failures.push(...end.workerErrors, ...run.coll.problemsOf(ph));
  if (!end.failure) {
    failures.push(`the log never failed (expected ${what})`);
    return;
  }
  if (end.failure.code !== 'ERR_SHARDLOG_SHARD_FAILED') failures.push(`the log failed with ${describeError(end.failure)}, expected a ShardFailedError`);
  if (!causeOk(end.failure)) failures.push(`the failure's cause is not ${what}: ${describeError(end.failure)}`);
  if (!end.closeError) failures.push('close() resolved on a failed log; it must reject');
}

/** Each producer: append() threw ShardFailedError, and the durable() asked after it rejected. */
function checkProducersSawIt(run: StressRun, ph: Phase, f: Faults): void {
  const { failures } = run;
  let appendErrors = 0;
  let probes = 0;
  for (const id of ph.producers) {
    const d = run.coll.done.get(id);
    if (!d) continue;
    if (d.appendError) {
      appendErrors++;
      if (d.appendError.code !== 'ERR_SHARDLOG_SHARD_FAILED') failures.push(`producer ${id}: append threw ${describeError(d.appendError)}, expected ShardFailedError`);
      if (d.probe === 'rejected' && d.probeError?.code === 'ERR_SHARDLOG_SHARD_FAILED') probes++;
      else failures.push(`producer ${id}: durable() after the failure ${d.probe === 'hung' ? 'hung' : d.probe === 'resolved' ? 'resolved' : `rejected with ${describeError(d.probeError)}`}; it must reject with ShardFailedError`);
    } else if (ph.end!.failure) failures.push(`producer ${id} never saw the failure (its appends kept succeeding)`);
  }
  f.appendErrors = appendErrors;
  f.durableProbesRejected = probes;
}

/** The log works again: a short clean session on top of the recovered one. */
async function loadAfterRecovery(run: StressRun, dir: string, ph: Phase, f: Faults): Promise<void> {
  const { coll, failures } = run;
  const entries = Math.max(run.o.producers + 1, Math.min(20_000, Math.floor((f.fullDisk ? f.fullDisk.fillerBytes / 4 : 8 << 20) / meanSize(run.size))));
  const ph2 = run.startPhase('after recovery', ph.producers[ph.producers.length - 1] + 1);
  await runSession(run.session(dir, ph2.producers[0], { entries, durationMs: undefined, rate: 0 }), coll.on, new Int32Array(new SharedArrayBuffer(4)));
  const end2 = ph2.end!;
  f.afterRecovery = { entries: ph2.producers.reduce((a, id) => a + (coll.done.get(id)?.appended ?? 0), 0) };
  if (end2.failure || end2.closeError) failures.push(`the log failed again after recovery: ${describeError(end2.failure ?? end2.closeError)}`);
  failures.push(...end2.workerErrors, ...coll.problemsOf(ph2));
}
