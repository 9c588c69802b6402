/**
 * `shardlog stress`: many producers, faults, and proof that nothing was lost. Parses the options,
 * runs packages/core/src/stress/runner.ts, prints live progress (stderr) and the report (stdout; JSON
 * with --json). Exit code 0 when every check passed, 1 on any loss, duplicate, corruption, hang or
 * missing loud failure, 2 on bad options.
 */
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '@shardlog/workers';
import { DEFAULTS, parseBytes, parseDuration, parseInt10, parseRate, parseSize, parseSync, validate, type StressOptions } from '../stress/options.js';
import { Progress } from '../stress/progress.js';
import { formatReport } from '../stress/report.js';
import { runStress } from '../stress/runner.js';
import type { Command } from './commands.js';

const HELP = `Usage: shardlog stress [options]

Many producers (the main thread plus N worker threads) append into one log while its stats are
shown live; then the whole log is re-read and every acknowledged entry must be there exactly once,
in its producer's order, byte for byte. Optional faults: a SIGKILLed writer process, a torn tail,
a full disk, a writer thread that dies.

Load:
  --duration T        how long to append (500ms, 10s, 10m; default 5s)
  --entries N         or: how many entries in all
  --shards N          shards (writer threads), default ${DEFAULTS.shards}
  --producers N       producer threads besides the main thread, default ${DEFAULTS.producers}
  --size DIST         fixed:N | uniform:A-B | heavy:A[-B] (Pareto tail up to B, default the largest
                      entry the ring allows); sizes take k/m suffixes; default uniform:32-512
  --kind K            binary | string (UTF-8 with 2- and 3-byte characters), default binary
  --sync P            none | batch | ms:N | bytes:N, default batch
  --rate R            unbounded | entries per second over all producers (50k), default unbounded
  --api A             append | many | mixed (append() and appendMany()), default mixed
  --ack-ms N          call durable() at most every N ms per producer (default 0: after every burst)
  --ring BYTES        ring bytes per shard (power of two), default the engine's (8m)
  --segment-bytes B   roll segments at this size (small values exercise rotation)
  --seed N            seed for entries and fault choices (default random; printed for replay)
  --dir D             make the run's log in a fresh directory under D (default the OS temp dir):
                      point it at the disk you want to test
  --keep              keep the log directory (a failed run always keeps it)

Faults (one at a time):
  --kill-at [T]       fork a writer child and SIGKILL it at T after its load starts (default: a seeded
                      random moment within --duration); reopen (recovery) and verify every entry it
                      had reported acknowledged
  --cycles N          kill / recover / verify N times on the same log
  --tear [MODE]       with a kill: then damage a last segment before the reopen. tail (default): only
                      bytes past the last acknowledged record (truncate, zero, garbage, or a zeroed
                      hole); recovery must cut it and lose nothing acknowledged. synced: flip a byte of
                      an acknowledged record; a CorruptLogError is expected (loud, never silent)
  --full-disk         on a small tmpfs (or loop device) of its own, nearly filled: expect ShardFailedError
                      with cause ENOSPC and durable() to reject; delete the filler, reopen, verify.
                      Needs root; skipped with a message otherwise
  --disk-size BYTES   size of that filesystem, default 48m
  --writer-exit N     every shard writer thread exits after N batches: the log must fail loudly
                      (appends throw ShardFailedError, durable() rejects), not hang; reopen, verify
  --hang-timeout T    a durable() or producer stuck this long is reported as a hang (default 15s)

Output:
  --json              the final report as JSON on stdout
  --quiet             no live progress
  -h, --help          this help`;

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
  const { values: v, positionals } = parseArgs({
    args: withDefaults(args),
    allowPositionals: false,
    options: {
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
    },
  });
  void positionals;
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

export const stressCommand: Command = {
  name: 'stress',
  usage: 'stress [--duration T] [--producers N] [--kill-at|--tear|--full-disk|--writer-exit N] ...',
  summary: 'load a log from many producers, inject faults, prove nothing acknowledged was lost',
  help: HELP,
  async run(args) {
    const { opts, json, quiet } = parseStressArgs(args);
    const progress = quiet ? undefined : new Progress(process.stderr);
    const ac = new AbortController();
    const onSigint = () => {
      progress?.note('interrupted: stopping the load, then verifying (Ctrl-C again to quit at once)');
      process.off('SIGINT', onSigint);
      ac.abort();
    };
    process.on('SIGINT', onSigint);
    progress?.note(`shardlog stress: seed ${opts.seed} (replay with --seed ${opts.seed})`);
    try {
      const report = await runStress(opts, { progress, signal: ac.signal });
      process.stdout.write((json ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
      return report.ok ? 0 : 1;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
