/**
 * The way back: readJetStream() yields the entries a shipper put in a stream, in global seq order
 * across shards, in the same shape readLog() yields (LogEntry: seq, shard, data, isText, text()).
 *
 * Each shard's subject is read with its own ordered consumer up to the subject's last message at the
 * time of the call; the shards are merged by seq (within a subject, entries are in seq order).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiError, JetStreamApiCodes, type JetStreamClient, type JetStreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { LogRecord, type LogEntry } from '@shardlog/core';
import { InvalidArgumentError } from '@shardlog/workers';
import { decodeBatch, parseMsgId } from './batch.js';
import { ShipError } from './errors.js';
import type { NatsOptions } from './nats.js';

export interface ReadJetStreamOptions {
  servers: string | string[];
  stream: string;
  /** Default 'shardlog'. */
  subjectPrefix?: string;
  /** First seq to yield. Default: the first in the stream. */
  fromSeq?: number;
  /** More NATS connection options (credentials, tls...). */
  nats?: NatsOptions;
  /** An existing connection to use (it is left open) instead of `servers`. */
  connection?: NatsConnection;
  /** Only entries of this log id (default: whatever the messages say; a mix is an error). */
  logId?: string;
}

/** An entry read back from the stream: the same class readLog yields. */
export const StreamEntry = LogRecord;
export type StreamEntry = LogRecord;

/** The shards that have a subject in the stream, with the stream seq of each one's last message. */
export async function shippedSubjects(jsm: JetStreamManager, stream: string, prefix: string): Promise<Map<number, number>> {
  let info;
  try {
    info = await jsm.streams.info(stream, { subjects_filter: `${prefix}.*` });
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) throw new ShipError('ERR_SHARDLOG_SHIP_NO_STREAM', `stream '${stream}' does not exist on the server`, { cause: e });
    throw e;
  }
  const held = Object.keys(info.state.subjects ?? {});
  // A stream that holds no `<prefix>.<shard>` message and whose subjects could take none was not
  // shipped to with this prefix: say so, rather than read nothing. (Not judged: a stream that holds
  // such messages, whatever its subjects say now; a mirror or one with sources, whose messages come
  // from other streams.)
  const takes = info.config.subjects ?? [];
  const fed = info.config.mirror !== undefined || (info.config.sources?.length ?? 0) > 0;
  if (held.length === 0 && !fed && takes.length > 0 && !takes.some((p) => couldTake(p, prefix))) {
    throw new ShipError('ERR_SHARDLOG_SHIP_NO_SUBJECT', `stream '${stream}' takes no subject '${prefix}.<shard>' (its subjects: ${takes.join(', ')}): is the subject prefix '${prefix}' the one the log was shipped with?`);
  }
  const out = new Map<number, number>();
  for (const subj of held) {
    const t = subj.slice(prefix.length + 1);
    if (!/^\d+$/.test(t)) continue;
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subj });
    if (m) out.set(Number(t), m.seq);
  }
  return out;
}

/** Could subject pattern `p` (with * and >) match some `<prefix>.<digits>`? */
function couldTake(p: string, prefix: string): boolean {
  const a = p.split('.');
  const b = prefix.split('.');
  for (let i = 0; i <= b.length; i++) {
    if (a[i] === '>') return true;
    if (i === a.length) return false;
    if (i === b.length) return a.length === b.length + 1 && (a[i] === '*' || /^\d+$/.test(a[i]!));
    if (a[i] !== '*' && a[i] !== b[i]) return false;
  }
  return false;
}

/** One shard's entries, decoded from its messages, up to stream seq `endSeq`. */
async function* shardEntries(js: JetStreamClient, stream: string, subject: string, shard: number, endSeq: number, fromSeq: number, logId: { id?: string }): AsyncGenerator<StreamEntry> {
  // a string, not an array: servers before 2.10 take one filter subject
  const consumer = await js.consumers.get(stream, { filter_subjects: subject });
  let msgs: ConsumerMessages | undefined;
  try {
    msgs = await consumer.consume({ max_messages: 256 });
    for await (const m of msgs) {
      const where = `message ${m.seq} of stream '${stream}' (${subject})`;
      const id = parseMsgId(m.headers?.get('Nats-Msg-Id'));
      if (!id) throw new ShipError('ERR_SHARDLOG_SHIP_BAD_MESSAGE', `${where} has no shardlog Nats-Msg-Id`);
      if (logId.id === undefined) logId.id = id.logId;
      else if (id.logId !== logId.id) throw new ShipError('ERR_SHARDLOG_SHIP_FOREIGN', `${where} comes from log ${id.logId}, not ${logId.id}`);
      const entries = decodeBatch(m.data, where);
      if (entries[0].seq !== id.first || entries[entries.length - 1].seq !== id.last) {
        throw new ShipError('ERR_SHARDLOG_SHIP_BAD_MESSAGE', `${where}: its id says seqs ${id.first}-${id.last}, its body holds ${entries[0].seq}-${entries[entries.length - 1].seq}`);
      }
      for (const e of entries) if (e.seq >= fromSeq) yield new StreamEntry(e.seq, shard, e.data, e.isText);
      if (m.seq >= endSeq) return;
    }
  } finally {
    msgs?.stop();
    await consumer.delete().catch(() => {});
  }
}

/** Entries shipped to `stream`, in global seq order. */
export async function* readJetStream(options: ReadJetStreamOptions): AsyncGenerator<LogEntry> {
  const prefix = options.subjectPrefix ?? 'shardlog';
  const fromSeq = options.fromSeq ?? 0;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) throw new InvalidArgumentError(`fromSeq must be a non-negative integer, got ${String(options.fromSeq)}`);
  const nc = options.connection ?? (await connect({ name: 'shardlog-read', ...options.nats, servers: options.servers }));
  const iters: AsyncGenerator<StreamEntry>[] = [];
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const subjects = await shippedSubjects(jsm, options.stream, prefix);
    const logId = { id: options.logId };
    for (const [shard, endSeq] of [...subjects].sort((a, b) => a[0] - b[0])) {
      iters.push(shardEntries(js, options.stream, `${prefix}.${shard}`, shard, endSeq, fromSeq, logId));
    }
    const heads: (StreamEntry | undefined)[] = await Promise.all(iters.map(async (it) => (await it.next()).value ?? undefined));
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) if (heads[i] && (best < 0 || heads[i]!.seq < heads[best]!.seq)) best = i;
      if (best < 0) return;
      yield heads[best]!;
      heads[best] = (await iters[best].next()).value ?? undefined;
    }
  } finally {
    for (const it of iters) await it.return(undefined).catch(() => {});
    if (!options.connection) await nc.close().catch(() => {});
  }
}
