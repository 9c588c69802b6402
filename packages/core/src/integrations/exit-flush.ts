/**
 * Synchronous flushes when the process goes away: on 'exit' (process.exit(), the end of an uncaught
 * exception, the event loop running dry) and, for destinations that ask, on signals such as SIGTERM.
 *
 * A log's entries sit in its SharedArrayBuffer rings until the writer threads write them, and the
 * rings die with the process. So at exit each registered target drains synchronously: the main
 * thread blocks in Atomics.wait on the shards' durable epoch while the writer threads (which keep
 * running during 'exit' listeners) write and fdatasync. This is what pino and sonic-boom do with
 * on-exit-leak-free; it is written here instead because that package's FinalizationRegistry clean-up
 * splices the wrong range out of its list (a collected target can drop the registrations after it),
 * and because a target that owns a running log is reachable anyway until it is ended.
 *
 * Signals: a listener is installed only for the signals some target named. On the signal every such
 * target flushes; then, if no other listener handles that signal, ours removes itself and raises the
 * signal again, so the process still dies by it (exit status 128 + n) as it would have without us.
 */

export interface ExitFlushTarget {
  /** Called synchronously at exit or on a signal; must not throw. */
  flushOnExit(reason: string): void;
}

const onExit = new Set<ExitFlushTarget>();
const onSignal = new Map<NodeJS.Signals, Set<ExitFlushTarget>>();
const signalListeners = new Map<NodeJS.Signals, () => void>();
let exitInstalled = false;

function exitListener(): void {
  for (const t of [...onExit]) t.flushOnExit('exit');
}

/** Flush `target` at process exit (if `exit`) and on each of `signals`, until unregisterExitFlush(target). */
export function registerExitFlush(target: ExitFlushTarget, exit: boolean, signals: readonly NodeJS.Signals[] = []): void {
  if (exit) {
    onExit.add(target);
    if (!exitInstalled) {
      process.on('exit', exitListener);
      exitInstalled = true;
    }
  }
  for (const sig of signals) {
    let set = onSignal.get(sig);
    if (!set) onSignal.set(sig, (set = new Set()));
    set.add(target);
    if (!signalListeners.has(sig)) {
      const listener = (): void => {
        for (const t of [...(onSignal.get(sig) ?? [])]) t.flushOnExit(sig);
        if (process.listenerCount(sig) === 1) {
          // Only ours: do what the signal would have done. Removing the last listener restores the
          // default disposition, and the signal raised again ends the process.
          process.removeListener(sig, listener);
          signalListeners.delete(sig);
          process.kill(process.pid, sig);
        }
      };
      signalListeners.set(sig, listener);
      process.on(sig, listener);
    }
  }
}

export function unregisterExitFlush(target: ExitFlushTarget): void {
  onExit.delete(target);
  if (onExit.size === 0 && exitInstalled) {
    process.removeListener('exit', exitListener);
    exitInstalled = false;
  }
  for (const [sig, set] of onSignal) {
    set.delete(target);
    if (set.size === 0) {
      onSignal.delete(sig);
      const l = signalListeners.get(sig);
      if (l) process.removeListener(sig, l);
      signalListeners.delete(sig);
    }
  }
}
