/**
 * The Node.js options every thread shardlog starts (shard writers, the log manager's pool, the
 * verify pool) runs with: the process's own (`process.execArgv`, what a Worker inherits by
 * default), minus those a Worker refuses. `--input-type` (a script from `node -e` or stdin) makes
 * `new Worker()` throw ("--input-type can only be used with string input"), so a log opened from
 * such a script could not start its writers.
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--input-type') {
      i++; // and its value
      continue;
    }
    if (a.startsWith('--input-type=')) continue;
    out.push(a);
  }
  return out;
}
