/**
 * Argument checks the commands share: parsing the options (parseOptions), the one DIR positional,
 * integer and millisecond option values, and that DIR is a log at all. Each failure is an
 * InvalidArgumentError, which the CLI reports as a usage error (exit 2).
 */
import * as fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidArgumentError, listShardDirs, readManifest, type Manifest } from '@shardlog/workers';
import { inlineNegativeValues, keysFromFileOrEnv, MAX_TIMER_MS, type EncryptionOptions } from '@shardlog/core';

export { MAX_TIMER_MS };


/** node:util parseArgs, with a negative number taken as an option's value (inlineNegativeValues). */
export function parseOptions<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  return parseArgs({ ...config, args: inlineNegativeValues(config.args ?? [], config.options) } as T);
}

/** The command's DIR: exactly one positional. */
export function dirArg(positionals: string[]): string {
  if (positionals.length === 0) throw new InvalidArgumentError('missing DIR');
  if (positionals.length > 1) throw new InvalidArgumentError(`unexpected argument '${positionals[1]}' (one DIR only)`);
  return positionals[0];
}

/** An option's integer value, at least `min`; `fallback` when the option was not given. */
export function intOption(name: string, value: string | undefined, min: number, fallback: number): number;
export function intOption(name: string, value: string | undefined, min: number): number | undefined;
export function intOption(name: string, value: string | undefined, min: number, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} takes an integer of at least ${min}, got '${value}'`);
  return n;
}

/** An option's delay in whole milliseconds, 1 to MAX_TIMER_MS; `fallback` when the option was not given. */
export function msOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_TIMER_MS) {
    throw new InvalidArgumentError(`${name} takes a whole number of milliseconds from 1 to ${MAX_TIMER_MS} (the most Node's timers allow), got '${value}'`);
  }
  return n;
}

/**
 * DIR must be a log directory: a directory with a manifest or at least one shard directory.
 * Returns its manifest (undefined for a log without one).
 */
export function requireLog(dir: string): Manifest | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InvalidArgumentError(`no log at ${dir} (it does not exist)`);
    throw e;
  }
  if (!st.isDirectory()) throw new InvalidArgumentError(`${dir} is not a log: not a directory`);
  const m = readManifest(dir);
  if (!m && listShardDirs(dir).length === 0) throw new InvalidArgumentError(`${dir} is not a log: no manifest and no shard directories`);
  return m;
}

/** The --key-file help line the commands that read entries share. */
export const KEY_FILE_HELP = '  --key-file F   an encrypted log: its keys, a JSON file { "keys": { "<id>": "<base64 or hex>" }, "keyId": "<id>" } (default: $SHARDLOG_KEY_FILE)';

/** The keys of --key-file (or $SHARDLOG_KEY_FILE), undefined when neither is given. `needKeyId`: commands that write. */
export function keyFileOption(value: string | undefined, needKeyId = false): EncryptionOptions | undefined {
  return keysFromFileOrEnv(value, process.env, needKeyId);
}
