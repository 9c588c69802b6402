/**
 * `shardlog tail DIR [-f]`: the last entries of a framed log, and with -f the new ones as they are
 * written, by polling the files: the durability signals (Atomics) live in the writing process's
 * memory, so another process can only watch the files grow.
 */
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, listSegments, listShardDirs, shardDirName } from '@shardlog/workers';
import { missingShardDirs, missingShardError, readKeysOf, readShard, ShardCursor, type LogEntry, type ReadKeys, type SkippedRegion } from '@shardlog/core';
import { dirArg, parseOptions, intOption, msOption, requireLog, KEY_FILE_HELP, keyFileOption } from '../args.js';
import type { Command } from '../command.js';

function format(e: LogEntry, json: boolean): string {
  if (json) return JSON.stringify(e.isText ? { seq: e.seq, shard: e.shard, text: e.text() } : { seq: e.seq, shard: e.shard, base64: Buffer.from(e.data).toString('base64') });
  return e.isText ? e.text() : Buffer.from(e.data).toString('base64');
}

async function print(line: string): Promise<void> {
  if (!process.stdout.write(line + '\n')) await new Promise((r) => process.stdout.once('drain', r));
}

/** The last n entries of the log (in seq order), reading each shard's segments from the newest back. */
export function lastEntries(dir: string, shards: number[], n: number, keys?: ReadKeys, skip?: (r: SkippedRegion) => void): LogEntry[] {
  const all: LogEntry[] = [];
  for (const s of shards) {
    const segs = listSegments(dir, s, 'framed');
    let got: LogEntry[] = [];
    for (let j = segs.length - 1; j >= 0; j--) {
      got = [];
      for (const e of readShard(dir, s, segs[j].firstSeq, undefined, keys, skip)) {
        got.push(e);
        if (got.length > n) got.shift();
      }
      if (got.length >= n) break;
    }
    all.push(...got);
  }
  all.sort((a, b) => a.seq - b.seq);
  return n === 0 ? [] : all.slice(-n);
}

/** tail's options, checked (a bad value is a usage error), and DIR's manifest. */
function tailOptions(args: string[]) {
  const { values, positionals } = parseOptions({
    args,
    options: {
      follow: { type: 'boolean', short: 'f' },
      lines: { type: 'string', short: 'n' },
      from: { type: 'string' },
      json: { type: 'boolean' },
      interval: { type: 'string' },
      'key-file': { type: 'string' },
      'skip-corrupt': { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const dir = dirArg(positionals);
  const n = intOption('-n', values.lines, 0, 10);
  const interval = msOption('--interval', values.interval, 200);
  const from = intOption('--from', values.from, 0);
  const m = requireLog(dir);
  if (m && m.format !== 'framed') throw new InvalidArgumentError(`log ${dir} is in '${m.format}' format: tail its .log files with tail(1)`);
  const keys = readKeysOf(dir, keyFileOption(values['key-file']));
  return { dir, m, n, interval, json: values.json ?? false, follow: values.follow ?? false, from, keys, skip: values['skip-corrupt'] ? reportOnce() : undefined };
}

/** --skip-corrupt's report: each region skipped, once (the last entries and the cursors may both pass it), on stderr. */
function reportOnce(): (r: SkippedRegion) => void {
  const seen = new Set<string>();
  return (r) => {
    const at = `${r.file}:${r.offset}`;
    if (seen.has(at)) return;
    seen.add(at);
    process.stderr.write(`shardlog tail: skipped ${r.bytes} corrupt bytes: ${r.file} at offset ${r.offset}: ${r.reason}\n`);
  };
}

const USAGE = 'tail DIR [-f] [-n N] [--from SEQ] [--json] [--interval MS] [--skip-corrupt] [--key-file F]';

export const tailCommand: Command = {
  name: 'tail',
  usage: USAGE,
  summary: 'print the last entries; with -f, keep printing new ones (polls the files)',
  help: [
    `Usage: shardlog ${USAGE}`,
    '',
    'Print the last N entries of a framed log in sequence order; with -f, keep printing entries as',
    'they appear, until interrupted. A binary entry prints as base64 (as in cat: use --json to tell',
    'text from binary).',
    '',
    '-f works on a log written by another process by POLLING the files every --interval ms: the',
    "durability signals (Atomics on the writer's shared memory) exist only inside the writing",
    'process. So it prints records once they are whole and CRC-valid in the file, which can be',
    'before they are fsynced. Across shards it prints in seq order, holding an entry back until every',
    'shard has shown a higher seq, but for at most one poll: a record that reaches its file more than',
    'a poll after a higher one in another shard prints late. Inside the writing process use',
    'log.follow(), which yields only durable entries, in exact seq order.',
    '',
    'Corruption (a bad record with valid ones after it, or a missing or cut segment) ends tail',
    'with the error (exit 1); no entry with a seq above the damage is printed before it. With',
    '--skip-corrupt it reads past it instead, as recovery and `cat --skip-corrupt` do, and says on',
    'stderr what it skipped (file, offset, bytes, why), once per region.',
    '',
    'Options:',
    '  -f, --follow      keep printing new entries',
    '  -n, --lines N     entries to print first (default 10)',
    '  --from SEQ        start at this seq instead of the last N',
    '  --json            one JSON object per entry: {"seq","shard","text"} or {"seq","shard","base64"}',
    '  --interval MS     poll interval with -f, in whole ms (default 200)',
    '  --skip-corrupt    read past corrupt regions, reporting each on stderr',
    KEY_FILE_HELP,
    '  -h, --help        this help',
  ].join('\n'),
  async run(args) {
    const { dir, m, n, interval, json, follow, from, keys, skip } = tailOptions(args);
    const ids = new Set(listShardDirs(dir));
    for (let s = 0; s < (m?.shards ?? 0); s++) ids.add(s);
    // a shard directory deleted from a log with entries: corruption, as in cat (with --skip-corrupt, said once)
    const missing = m ? missingShardDirs(dir, m.shards) : [];
    if (missing.length > 0) {
      if (!skip) throw missingShardError(dir, m!.shards, missing);
      for (const s of missing) {
        skip({ shard: s, file: path.join(dir, shardDirName(s)), offset: 0, bytes: 0, reason: 'the shard directory is missing' });
        ids.delete(s);
      }
    }
    const shards = [...ids].sort((a, b) => a - b);

    let fromSeq: number;
    if (from !== undefined) {
      fromSeq = from;
    } else {
      const last = lastEntries(dir, shards, n, keys, skip);
      for (const e of last) await print(format(e, json));
      if (!follow) return 0;
      fromSeq = last.length > 0 ? last[last.length - 1].seq + 1 : 0;
      if (last.length === 0) for (const s of shards) for (const e of readShard(dir, s, 0, undefined, keys, skip)) fromSeq = Math.max(fromSeq, e.seq + 1);
    }

    const cursors = shards.map((s) => new ShardCursor(dir, s, fromSeq, undefined, keys, skip));
    const stuckAt = cursors.map(() => '');
    // Hold an entry back until every shard has shown a seq at least as high (then nothing lower can
    // still come: each shard writes in seq order), or until it has waited one poll (an idle shard
    // must not hold the others up).
    const maxSeen = cursors.map(() => fromSeq - 1);
    let pending: { e: LogEntry; poll: number }[] = [];
    for (let poll = 0; ; poll++) {
      // A shard's cursor on corruption (a bad record, or a missing or cut segment: ShardCursor checks
      // the link between segments) ends the tail with its error; first the entries that are surely
      // before it print, and none above that shard's last seq: a reader that resumes after the last
      // printed seq must not pass over the damage.
      let failure: { err: unknown } | undefined;
      let bound = Number.MAX_SAFE_INTEGER;
      const fail = (i: number, err: unknown) => {
        failure ??= { err };
        bound = Math.min(bound, maxSeen[i]);
      };
      cursors.forEach((c, i) => {
        try {
          for (let e = c.next(Number.MAX_SAFE_INTEGER, poll); e; e = c.next(Number.MAX_SAFE_INTEGER, poll)) {
            pending.push({ e, poll });
            maxSeen[i] = e.seq;
          }
        } catch (err) {
          fail(i, err);
        }
      });
      pending.sort((a, b) => a.e.seq - b.e.seq);
      // A cursor stuck on a bad record is judged (diagnose(): corruption, or a write in progress or
      // torn end) before anything past it prints, as follow()'s merge does; and when it is still
      // there a poll later, so a tail never waits forever on corruption. Without -f, at once.
      cursors.forEach((c, i) => {
        const at = c.stuck ? `${c.stuck.file}:${c.stuck.offset}` : '';
        if (at && (!follow || at === stuckAt[i] || pending.some((p) => p.e.seq > maxSeen[i]))) {
          const err = c.diagnose();
          if (err) fail(i, err);
        }
        stuckAt[i] = at;
      });
      const w = Math.min(...maxSeen);
      let cut = 0;
      for (let k = 0; k < pending.length && pending[k].e.seq <= bound; k++) if (!follow || pending[k].e.seq <= w || pending[k].poll < poll) cut = k + 1;
      for (const p of pending.slice(0, cut)) await print(format(p.e, json));
      pending = pending.slice(cut);
      if (failure) throw failure.err;
      if (!follow) return 0;
      await sleep(interval);
    }
  },
};
