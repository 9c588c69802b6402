/**
 * The options of `shardlog stress` as StressOptions: node:util parseArgs (through the CLI's
 * parseOptions), then each value through the parsers of options.ts (bad values throw
 * InvalidArgumentError, which the CLI turns into exit 2).
 */
import { randomInt } from 'node:crypto';
import { InvalidArgumentError } from '@shardlog/workers';
import { parseOptions } from '../args.js';
import { DEFAULTS, parseBytes, parseDuration, parseInt10, parseRate, parseSize, parseSync, validate, type StressOptions } from './options.js';

/** Every option of `shardlog stress` (parseArgs config). */
const OPTIONS = {
  duration: { type: 'string' },
  entries: { type: 'string' },
  shards: { type: 'string' },
  producers: { type: 'string' },
  size: { type: 'string' },
  kind: { type: 'string' },
  sync: { type: 'string' },
  rate: { type: 'string' },
  api: { type: 'string' },
  'ack-ms': { type: 'string' },
  ring: { type: 'string' },
  'segment-bytes': { type: 'string' },
  seed: { type: 'string' },
  dir: { type: 'string' },
  keep: { type: 'boolean' },
  'kill-at': { type: 'string' },
  cycles: { type: 'string' },
  tear: { type: 'string' },
  'full-disk': { type: 'boolean' },
  'disk-size': { type: 'string' },
  'writer-exit': { type: 'string' },
  'hang-timeout': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

/** `--kill-at` and `--tear` may be given without a value. */
function withDefaults(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    out.push(args[i]);
    const next = args[i + 1];
    const bare = next === undefined || next.startsWith('--');
    if (args[i] === '--kill-at' && bare) out.push('random');
    if (args[i] === '--tear' && bare) out.push('tail');
  }
  return out;
}

export function parseStressArgs(args: string[]): { opts: StressOptions; json: boolean; quiet: boolean } {
  const { values: v } = parseOptions({
    args: withDefaults(args),
    allowPositionals: false,
    options: OPTIONS,
  });
  const o: StressOptions = { ...DEFAULTS, seed: randomInt(2 ** 47) };
  if (v.duration !== undefined) o.durationMs = parseDuration('--duration', v.duration);
  if (v.entries !== undefined) o.entries = parseInt10('--entries', v.entries, 1, Number.MAX_SAFE_INTEGER);
  if (v.shards !== undefined) o.shards = parseInt10('--shards', v.shards, 1, 256);
  if (v.producers !== undefined) o.producers = parseInt10('--producers', v.producers, 0, 256);
  if (v.size !== undefined) o.size = parseSize(v.size);
  if (v.kind !== undefined) {
    if (v.kind !== 'binary' && v.kind !== 'string') throw new InvalidArgumentError(`--kind: '${v.kind}' is not binary or string`);
    o.kind = v.kind;
  }
  if (v.sync !== undefined) o.sync = parseSync(v.sync);
  if (v.rate !== undefined) o.rate = parseRate(v.rate);
  if (v.api !== undefined) {
    if (v.api !== 'append' && v.api !== 'many' && v.api !== 'mixed') throw new InvalidArgumentError(`--api: '${v.api}' is not append, many or mixed`);
    o.api = v.api;
  }
  if (v['ack-ms'] !== undefined) o.ackMs = parseInt10('--ack-ms', v['ack-ms'], 0, 3_600_000);
  if (v.ring !== undefined) o.ringBytes = parseBytes('--ring', v.ring);
  if (v['segment-bytes'] !== undefined) o.segmentBytes = parseBytes('--segment-bytes', v['segment-bytes']);
  if (v.seed !== undefined) o.seed = parseInt10('--seed', v.seed, 0, Number.MAX_SAFE_INTEGER);
  if (v.dir !== undefined) o.dir = v.dir;
  if (v.keep) o.keep = true;
  if (v['kill-at'] !== undefined) o.killAt = v['kill-at'] === 'random' ? 'random' : parseDuration('--kill-at', v['kill-at']);
  if (v.cycles !== undefined) o.cycles = parseInt10('--cycles', v.cycles, 1, 10_000);
  if (v.tear !== undefined) {
    if (v.tear !== 'tail' && v.tear !== 'synced') throw new InvalidArgumentError(`--tear: '${v.tear}' is not tail or synced`);
    o.tear = v.tear;
    o.killAt ??= 'random';
  }
  if (v['full-disk']) o.fullDisk = true;
  if (v['disk-size'] !== undefined) o.diskBytes = parseBytes('--disk-size', v['disk-size']);
  if (v['writer-exit'] !== undefined) o.writerExit = parseInt10('--writer-exit', v['writer-exit'], 1, 1_000_000_000);
  if (v['hang-timeout'] !== undefined) o.hangMs = parseDuration('--hang-timeout', v['hang-timeout']);
  validate(o);
  return { opts: o, json: Boolean(v.json), quiet: Boolean(v.quiet) };
}
