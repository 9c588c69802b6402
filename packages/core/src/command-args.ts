/**
 * What the command-line tools of every package share (the `shardlog` CLI, `shardlog-ship`, the bench
 * tools): the longest delay a Node timer takes, and negative numbers as option values. node:util
 * parseArgs takes a value that starts with '-' only inline, and refuses `--from -5` with a
 * three-line "argument is ambiguous"; rewritten as `--from=-5`, the option's own check says what is
 * wrong with the number, in one line.
 */
import type { ParseArgsConfig } from 'node:util';

/** The largest delay Node's timers take (2^31 - 1 ms, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * `--opt -5` as `--opt=-5` (and `-n -5` as `-n-5`) for the options of `options` that take a value.
 * Nothing after `--` changes.
 */
export function inlineNegativeValues(args: readonly string[], options: ParseArgsConfig['options']): string[] {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options ?? {})) {
    if (o.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return out.concat(args.slice(i));
    const next = args[i + 1];
    if (takesValue.has(a) && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
