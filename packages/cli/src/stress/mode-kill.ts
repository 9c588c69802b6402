/**
 * Kill mode: a forked writer child (child.ts) loads the log and is SIGKILLed at a (seeded) random
 * moment; the runner reopens the log (recovery) and verifies every entry the child had reported
 * acknowledged. --tear damages a last segment between the kill and the reopen (tear.ts): a torn
 * tail must be cut losing nothing acknowledged, a flipped byte in synced data must be reported
 * loudly. --cycles repeats kill / recover / verify on the same log.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { describeError, type Phase } from './collector.js';
import type { LoadMessage } from './messages.js';
import type { KillCycle } from './report-types.js';
import type { StressRun } from './run-context.js';
import { tearLog } from './tear.js';

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/**
 * The child's stats samples and latency histograms come this often (not every 250 ms as in the other
 * modes): only what it sent before the SIGKILL reaches the report, and the kill may come early.
 */
const KILL_STATS_MS = 50;

interface WriterChild {
  child: ChildProcess;
  exited: Promise<Exit>;
  /** Resolves 'ready' once the child's session has opened the log, 'exited' if it died first. */
  started: Promise<'ready' | 'exited'>;
  /** The error the child reported before it ended, if any. */
  error(): string | undefined;
}

export async function runKill(run: StressRun, dir: string): Promise<void> {
  const cycles: KillCycle[] = [];
  run.report.faults = { kill: cycles };
  for (let c = 0; c < run.o.cycles && !run.stopped; c++) {
    if (!(await runKillCycle(run, dir, c, cycles))) break;
  }
}

/** One kill / (tear) / recover / verify cycle; false when the run must not go on. */
async function runKillCycle(run: StressRun, dir: string, c: number, cycles: KillCycle[]): Promise<boolean> {
  const { o, failures } = run;
  const first = c * (o.producers + 1);
  const ph = run.startPhase(o.cycles > 1 ? `[${c + 1}/${o.cycles}]` : '', first);
  const w = forkWriter(run, dir, first);
  if ((await w.started) !== 'ready') {
    const err = w.error();
    failures.push(`writer child exited before it started its load${err ? `: ${err}` : ''}`);
    return false;
  }
  const cyc = await killAtMoment(run, w, ph, c);
  cycles.push(cyc);
  if (!cyc.killed) {
    const err = w.error();
    failures.push(`cycle ${c + 1}: the writer child ${err ? `failed: ${err}` : `finished before the kill moment (${cyc.killAfterMs} ms); nothing was killed`}`);
    return false;
  }
  if (o.tear) tear(run, dir, cyc);
  const r = await run.reopen(dir);
  cyc.recovery = r.recovery;
  cyc.openError = r.error;
  if (o.tear === 'synced' && cyc.tear?.applied) {
    expectCorruptionReported(run, dir, r.error);
    return false;
  }
  if (r.error) {
    failures.push(`recovery after the kill failed: ${describeError(r.error)}`);
    return false;
  }
  return run.verify(dir).ok;
}

/** Fork the writer child and send it its session; its messages go to the collector. */
function forkWriter(run: StressRun, dir: string, first: number): WriterChild {
  const child = fork(new URL('./child.js', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')), // a debugger port cannot be shared
  });
  const exited = new Promise<Exit>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let childError: string | undefined;
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((r) => (readyResolve = r));
  child.on('message', (m: LoadMessage | { type: 'child-error'; message: string }) => {
    if (m.type === 'child-error') childError = m.message;
    else {
      run.coll.on(m);
      if (m.type === 'ready') readyResolve();
    }
  });
  child.send(run.session(dir, first, { statsMs: KILL_STATS_MS }));
  const started = Promise.race([ready.then(() => 'ready' as const), exited.then(() => 'exited' as const)]);
  return { child, exited, started, error: () => childError };
}

/** SIGKILL the child at the chosen moment (or when the run is aborted); what it had acknowledged by then. */
async function killAtMoment(run: StressRun, w: WriterChild, ph: Phase, c: number): Promise<KillCycle> {
  const { o, coll } = run;
  const signal = run.abortSignal;
  const dur = o.durationMs ?? 5000;
  const delay = o.killAt === 'random' || o.killAt === undefined ? run.rng.int(Math.round(dur * 0.1), Math.round(dur * 0.9)) : o.killAt;
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => w.child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  const outcome = await Promise.race([w.exited.then(() => 'exited' as const), new Promise<'kill'>((r) => (timer = setTimeout(() => r('kill'), delay)))]);
  clearTimeout(timer);
  if (outcome === 'kill') w.child.kill('SIGKILL');
  const ex = await w.exited;
  signal?.removeEventListener('abort', onAbort);
  const killed = ex.signal === 'SIGKILL';
  const acknowledgedAtKill = ph.producers.reduce((a, id) => a + (coll.acks.get(id)?.count ?? 0), 0);
  const err = w.error();
  run.progress?.note(
    killed
      ? `SIGKILL to writer child ${ph.ready?.pid} after ${delay} ms: ${acknowledgedAtKill} entries had been acknowledged to the runner`
      : `writer child ended (${ex.signal ?? `code ${ex.code}`}) before the kill moment${err ? `: ${err}` : ''}`,
  );
  return { cycle: c + 1, killAfterMs: delay, killed, acknowledgedAtKill };
}

/** Damage a last segment (tear.ts) between the kill and the reopen. */
function tear(run: StressRun, dir: string, cyc: KillCycle): void {
  const { o, coll } = run;
  const t = tearLog(dir, o.shards, run.gen, (id) => coll.acks.get(id)?.count ?? 0, run.rng, o.tear!);
  cyc.tear = t;
  run.progress?.note(
    t.applied
      ? `tear (${t.mode}): ${t.kind} of ${t.bytes} bytes at offset ${t.offset} of shard ${t.shard}'s last segment (acknowledged data ends at ${t.ackedEnd})`
      : `tear (${t.mode}): not applied, ${t.note}`,
  );
}

/** After --tear synced: the corruption of acknowledged data must be reported loudly, at open or when read. */
function expectCorruptionReported(run: StressRun, dir: string, openError: KillCycle['openError']): void {
  const { failures, progress } = run;
  if (openError?.code === 'ERR_SHARDLOG_CORRUPT') {
    progress?.note('the corruption of synced data was reported loudly by recovery, as it must be');
    return;
  }
  if (openError) {
    failures.push(`recovery failed with ${describeError(openError)}, expected a CorruptLogError`);
    return;
  }
  const before = failures.length;
  const v = run.verify(dir);
  if (v.readError?.code === 'ERR_SHARDLOG_CORRUPT') {
    failures.length = before; // the reader's refusal is the expected loud report, not a failure
    progress?.note('the corruption of synced data was reported loudly by the reader, as it must be');
  } else failures.push('a flipped byte in an acknowledged record was not reported as corruption');
}
