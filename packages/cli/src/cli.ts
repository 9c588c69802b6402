/**
 * The `shardlog` command line. Each command lives in its own module under commands/ and registers
 * in commands.ts; this file only dispatches, prints help and the version, and maps errors to exit
 * codes: 2 for usage errors (unknown command or option, bad option value, DIR missing or not a log),
 * 1 for anything else (the command's own failure).
 */
import * as fs from 'node:fs';
import { commands } from './commands.js';

/** The version of this package, from its package.json (dist/cli.js -> ../package.json). */
function version(): string {
  return (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function usage(): string {
  const width = Math.max(...commands.map((c) => c.usage.length));
  return [
    'shardlog: durable, sharded log / write-ahead-log tools',
    '',
    'Usage: shardlog <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'shardlog <command> --help' for a command's options.",
  ].join('\n');
}

/** A usage error: a ShardlogError for a bad argument, or node:util parseArgs refusing the options. */
function isUsageError(code: string | undefined): boolean {
  return code === 'ERR_SHARDLOG_INVALID_ARGUMENT' || (code?.startsWith('ERR_PARSE_ARGS_') ?? false);
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    process.stderr.write(usage() + '\n');
    return 2;
  }
  // `help`, `help --help` and `help help` are the general usage, as --help is
  const topic = name === 'help' ? rest[0] : name;
  if (name === '--help' || name === '-h' || (name === 'help' && (topic === undefined || topic === '--help' || topic === '-h' || topic === 'help'))) {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  const cmd = commands.find((c) => c.name === topic);
  if (!cmd) {
    process.stderr.write(`shardlog: unknown command '${topic}'\n\n${usage()}\n`);
    return 2;
  }
  if (name === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.help + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(`shardlog ${name}: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
    if (!isUsageError(err.code)) return 1;
    process.stderr.write(`Run 'shardlog ${name} --help' for usage.\n`);
    return 2;
  }
}

// `shardlog cat DIR | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
