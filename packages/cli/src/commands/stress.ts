/**
 * `shardlog stress`: many producers, faults, and proof that nothing was lost. Parses the options,
 * runs the stress runner (stress/runner.ts), prints live progress (stderr) and the report (stdout; JSON
 * with --json). Exit code 0 when every check passed, 1 on any loss, duplicate, corruption, hang or
 * missing loud failure, 2 on bad options.
 */
import { parseStressArgs } from '../stress/args.js';
import { DEFAULTS } from '../stress/options.js';
import { Progress } from '../stress/progress.js';
import { formatReport } from '../stress/report.js';
import { runStress } from '../stress/runner.js';
import type { Command } from '../command.js';

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
  --rate R            unbounded | entries per second over all producers, at least 1 (50k);
                      default unbounded
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
  --disk-size BYTES   size of that filesystem, at least 5m, default 48m
  --writer-exit N     every shard writer thread exits after N batches: the log must fail loudly
                      (appends throw ShardFailedError, durable() rejects), not hang; reopen, verify
  --hang-timeout T    a durable() or producer stuck this long is reported as a hang (default 15s)

Output:
  --json              the final report as JSON on stdout
  --quiet             no live progress
  -h, --help          this help`;

export const stressCommand: Command = {
  name: 'stress',
  usage: 'stress [options]',
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
