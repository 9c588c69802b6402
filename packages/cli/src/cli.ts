/**
 * The `shardlog` command line. Each command lives in its own module under cli/ and registers in
 * cli/commands.ts; this file only dispatches and prints help.
 */
import { commands } from './commands.js';

const VERSION = '0.1.0';

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

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`shardlog: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.help + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(`shardlog ${name}: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
    return err.code === 'ERR_SHARDLOG_INVALID_ARGUMENT' || err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1;
  }
}

// `shardlog cat DIR | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
