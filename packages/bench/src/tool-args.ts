/**
 * Command-line handling shared by the bench package's standalone tools (ab-append, encryption,
 * many-logs, durable-trace, ship, producers, encoders, profile-summary): `--help` prints the tool's
 * usage and exits 0; an unknown option, a missing value or a bad number prints one line saying what
 * is wrong and the usage, and exits 2, never a stack trace. (The main harness, cli.ts, has its own
 * richer parser.)
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { inlineNegativeValues } from '@shardlog/core';

export { inlineNegativeValues };

type Options = NonNullable<ParseArgsConfig['options']>;

/** Print `message` and the usage on stderr and exit 2. */
export function usageExit(usage: string, message: string): never {
  process.stderr.write(`${message}\n\n${usage.endsWith('\n') ? usage : usage + '\n'}`);
  process.exit(2);
}


type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O & { help: { type: 'boolean'; short: 'h' } } }>>['values'];

/**
 * Parse process.argv against `options` (a `help` flag, `-h` too, is added), taking positional
 * arguments too. Prints `usage` and exits 0 on --help, exits 2 with a clear line on a parse error.
 */
export function toolArgsWithPositionals<O extends Options>(usage: string, options: O, allowPositionals = true): { values: Values<O>; positionals: string[] } {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ options: all, args: inlineNegativeValues(process.argv.slice(2), all), allowPositionals, strict: true });
  } catch (err) {
    usageExit(usage, (err as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(usage.endsWith('\n') ? usage : usage + '\n');
    process.exit(0);
  }
  return { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** toolArgs without positional arguments: the parsed option values. */
export function toolArgs<O extends Options>(usage: string, options: O): Values<O> {
  return toolArgsWithPositionals(usage, options, false).values;
}

/**
 * The number option `name` (without its dashes) of `values`, or `fallback` when absent. Exits 2 when
 * it is not a finite number, not an integer where `integer`, below `min` (default 1).
 */
export function numberArg(usage: string, values: Record<string, unknown>, name: string, fallback: number, opts: { integer?: boolean; min?: number } = {}): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const min = opts.min ?? 1;
  const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(v) || v < min || (opts.integer && !Number.isInteger(v))) {
    usageExit(usage, `--${name} must be ${opts.integer ? 'an integer' : 'a number'} of at least ${min}, got ${JSON.stringify(raw)}`);
  }
  return v;
}
