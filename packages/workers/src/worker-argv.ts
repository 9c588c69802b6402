/**
 * The Node.js options of the threads shardlog starts (shard writers, the log manager's pool, the
 * verify pool). By default a Worker inherits the process's own, and that stays so (undefined here).
 * But a script run as `node --input-type=module -e ...` (or fed on stdin) passes --input-type on,
 * and `new Worker()` of a file then throws ("--input-type can only be used with string input"), so
 * such a script could not open a log. There the threads get no options: an explicit list cannot
 * simply be the process's own less --input-type, since Node refuses per-process options in one
 * (--expose-gc, --title, ...), and a writer thread needs none.
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] | undefined {
  return argv.some((a) => a === '--input-type' || a.startsWith('--input-type=')) ? [] : undefined;
}
