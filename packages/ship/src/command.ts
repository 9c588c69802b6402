/**
 * `shardlog ship DIR --server nats://host:port --stream NAME ...`: ship a log directory (written by
 * another process, or by nobody) to JetStream until interrupted, with a progress line per second on
 * stderr; with --verify, compare the log and the stream entry by entry instead (exit 1 on any
 * difference). Usage errors exit 2, failures 1.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '@shardlog/workers';
import { inlineNegativeValues, keysFromFileOrEnv, MAX_TIMER_MS } from '@shardlog/core';
import { shipLog, type ShipStats } from './shipper.js';
import { verifyShipped } from './verify.js';
import type { NatsOptions } from './nats.js';

const SHIP_USAGE = 'ship DIR --server nats://host:port --stream NAME [--subject-prefix P] [--verify] [--json] [options]';

export const SHIP_HELP = [
  `Usage: shardlog ${SHIP_USAGE}`,
  '',
  'Ship every durable entry of the log in DIR to a NATS JetStream stream, exactly once, in order per',
  'shard (subject <prefix>.<shard>), until interrupted. DIR may be written by another process: its',
  'files are polled, and each segment is fdatasynced before records read from it are shipped, so',
  'nothing shipped can be cut by a later recovery. It resumes from the stream itself (the last',
  'message per subject), waits and retries while the server is slow or gone, and fails (exit 1) when',
  'the server refuses (stream missing or full, permissions). A retention hold in DIR/holds/ keeps',
  'truncateBefore() from removing entries the stream has not acknowledged.',
  '',
  'Options:',
  '  --server URL          NATS server: nats://host[:port] (or tls://...), or host:port',
  '                        (repeat for several); required',
  '  --stream NAME         JetStream stream; required',
  '  --subject-prefix P    subjects are P.<shard> (default shardlog)',
  '  --create-stream       create the stream (subjects P.>) if it does not exist',
  '  --user U --password P credentials for the server (or --token T)',
  '  --verify              compare the log and the stream entry by entry; exit 1 on a difference',
  '  --json                print a JSON summary on stdout at the end',
  '  --no-hold             keep no retention hold',
  '  --hold-name NAME      the hold file name (default ship-<stream>-<prefix>)',
  '  --max-batch-bytes N   entry bytes per message at most, at least 64 (default 65536)',
  '  --max-batch-entries N entries per message at most (default 4096; 1: a message per entry)',
  '  --poll-ms MS          how often to look for new records, in whole ms (default 100)',
  '  --timeout-ms MS       publish acknowledgement timeout before a retry, in whole ms, at least 10',
  '                        (default 5000)',
  '  --key-file F          an encrypted log: its keys, JSON { "keys": { "<id>": "<base64 or hex>" } }',
  '                        (default: $SHARDLOG_KEY_FILE)',
  '  --quiet               no progress lines',
  '  -h, --help            this help',
].join('\n');


/** An integer option, `min` to `max` (`rule` says so when it is not), undefined when not given. */
function checkedInt(v: string | undefined, name: string, min: number, max: number, rule: string): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} takes ${rule}, got '${v}'`);
  return n;
}
const int = (v: string | undefined, name: string, min: number) => checkedInt(v, name, min, Number.MAX_SAFE_INTEGER, `an integer of at least ${min}`);
const ms = (v: string | undefined, name: string, min: number) =>
  checkedInt(v, name, min, MAX_TIMER_MS, `a whole number of milliseconds from ${min} to ${MAX_TIMER_MS} (the most Node's timers allow)`);

/**
 * Why a --server value is not a server address (undefined when it is one): a URL with a host
 * (nats:// or tls://; the port may be left out) or host:port. A well-formed host that
 * does not resolve is the connection's business (it waits and retries), not a usage error.
 */
export function serverProblem(v: string): string | undefined {
  const example = 'expected nats://host:port or host:port';
  if (v.includes('://')) {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      return `'${v}' is not a URL (${example})`;
    }
    if (u.protocol !== 'nats:' && u.protocol !== 'tls:') return `'${v}': unknown scheme ${u.protocol}// (nats:// or tls://)`;
    if (!u.hostname) return `'${v}' names no host (${example})`;
    return undefined;
  }
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d+)$/.exec(v);
  if (!m) return `'${v}' is not a server address (${example})`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `'${v}': port ${m[3]} is out of range (1-65535)`;
  return undefined;
}


export function progressLine(s: ShipStats): string {
  const shards = s.shards.map((x) => `${x.shard}:${x.shippedSeq}`).join(' ');
  const wait = s.waitingFor ? `, waiting for ${s.waitingFor}` : '';
  return `ship: ${s.state}, ${Math.round(s.entriesPerSec)} entries/s, shipped seq ${shards || '-'}, lag ${s.lagEntries} entries ${s.lagBytes} bytes, buffered ${s.bufferedBytes} bytes${wait}`;
}

function summary(s: ShipStats): object {
  return {
    state: s.state,
    shippedEntries: s.shippedEntries,
    shippedBytes: s.shippedBytes,
    messages: s.messages,
    shards: s.shards.map((x) => ({ shard: x.shard, subject: x.subject, shippedSeq: x.shippedSeq, streamSeq: x.streamSeq, retries: x.retries, conflicts: x.conflicts })),
    lagEntries: s.lagEntries,
    lagBytes: s.lagBytes,
    error: s.error ? { message: s.error.message, code: (s.error as { code?: string }).code } : undefined,
  };
}

const OPTIONS = {
  server: { type: 'string', multiple: true },
  stream: { type: 'string' },
  'subject-prefix': { type: 'string' },
  'create-stream': { type: 'boolean' },
  user: { type: 'string' },
  password: { type: 'string' },
  token: { type: 'string' },
  verify: { type: 'boolean' },
  json: { type: 'boolean' },
  'no-hold': { type: 'boolean' },
  'hold-name': { type: 'string' },
  'max-batch-bytes': { type: 'string' },
  'max-batch-entries': { type: 'string' },
  'poll-ms': { type: 'string' },
  'timeout-ms': { type: 'string' },
  'key-file': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

interface Parsed {
  dir: string;
  servers: string[];
  stream: string;
  subjectPrefix: string | undefined;
  nats: NatsOptions;
  values: Values;
}

/** The arguments, checked (usage errors are InvalidArgumentError: exit 2); undefined for --help. */
function parse(argv: string[]): Parsed | undefined {
  const { values, positionals } = parseArgs({ args: inlineNegativeValues(argv, OPTIONS), options: OPTIONS, allowPositionals: true });
  if (values.help) return undefined;
  const dir = positionals[0];
  if (!dir) throw new InvalidArgumentError('missing DIR');
  if (positionals.length > 1) throw new InvalidArgumentError(`unexpected argument '${positionals[1]}'`);
  if (!fs.existsSync(dir)) throw new InvalidArgumentError(`no log at ${dir}`);
  if (!values.server?.length) throw new InvalidArgumentError('missing --server nats://host:port');
  for (const s of values.server) {
    const problem = serverProblem(s);
    if (problem) throw new InvalidArgumentError(`--server: ${problem}`);
  }
  if (!values.stream) throw new InvalidArgumentError('missing --stream NAME');
  if ((values.user === undefined) !== (values.password === undefined)) throw new InvalidArgumentError('--user and --password go together: give both, or neither');
  if (values.token !== undefined && values.user !== undefined) throw new InvalidArgumentError('give --token or --user/--password, not both');
  const nats = { user: values.user, pass: values.password, token: values.token };
  return { dir, servers: values.server, stream: values.stream, subjectPrefix: values['subject-prefix'], nats, values };
}

async function runVerify(p: Parsed): Promise<number> {
  const r = await verifyShipped({ dir: p.dir, servers: p.servers, stream: p.stream, subjectPrefix: p.subjectPrefix, nats: p.nats, encryption: keysFromFileOrEnv(p.values['key-file']) });
  if (p.values.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    process.stdout.write(`${r.ok ? 'OK' : 'DIFFERENT'}: ${r.matched} entries match, ${r.differences} differences, ${r.notYetShipped} not yet shipped, ${r.retired} only in the stream (removed from the log by retention); shipped seq per shard ${r.shipped.join(' ')}\n`);
    for (const d of r.listed) process.stdout.write(`  seq ${d.seq} (shard ${d.shard}): ${d.problem}\n`);
  }
  return r.ok ? 0 : 1;
}

async function runShip(p: Parsed): Promise<number> {
  const v = p.values;
  const shipper = shipLog({
    dir: p.dir,
    servers: p.servers,
    stream: p.stream,
    subjectPrefix: p.subjectPrefix,
    createStream: v['create-stream'] ?? false,
    nats: p.nats,
    hold: !v['no-hold'],
    holdName: v['hold-name'],
    maxBatchBytes: int(v['max-batch-bytes'], '--max-batch-bytes', 64),
    maxBatchEntries: int(v['max-batch-entries'], '--max-batch-entries', 1),
    pollMs: ms(v['poll-ms'], '--poll-ms', 1),
    timeoutMs: ms(v['timeout-ms'], '--timeout-ms', 10),
    encryption: keysFromFileOrEnv(v['key-file']),
  });
  const onSignal = () => void shipper.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = v.quiet ? undefined : setInterval(() => process.stderr.write(progressLine(shipper.stats()) + '\n'), 1000);
  try {
    await shipper.done;
  } catch {
    // reported below
  } finally {
    if (timer) clearInterval(timer);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const s = shipper.stats();
  if (!v.quiet) process.stderr.write(progressLine(s) + '\n');
  if (v.json) process.stdout.write(JSON.stringify(summary(s)) + '\n');
  if (s.error) {
    const code = (s.error as { code?: string }).code;
    process.stderr.write(`shardlog ship: ${s.error.message}${code ? ` [${code}]` : ''}\n`);
    return 1;
  }
  return 0;
}

async function run(argv: string[]): Promise<number> {
  const p = parse(argv);
  if (!p) {
    process.stdout.write(SHIP_HELP + '\n');
    return 0;
  }
  return p.values.verify ? runVerify(p) : runShip(p);
}

/** Run `shardlog ship` with these arguments (after the command name); resolves to the exit code. */
export async function runShipCommand(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(`shardlog ship: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
    if (err.code === 'ERR_SHARDLOG_INVALID_ARGUMENT' || (err.code ?? '').startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`Run 'shardlog ship --help' for usage.\n`);
      return 2;
    }
    return 1;
  }
}

/** The command as a `shardlog` subcommand: name, one-line usage and summary, help, run. */
export const shipCommand = {
  name: 'ship',
  usage: SHIP_USAGE,
  summary: 'ship every durable entry to NATS JetStream, exactly once (--verify: compare)',
  help: SHIP_HELP,
  run: runShipCommand,
};
