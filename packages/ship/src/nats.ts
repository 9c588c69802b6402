/**
 * The NATS side: connecting (retrying forever, as a shipper must ride out a server restart),
 * checking or creating the stream, reading a subject's last shipped message back, and sorting the
 * client's errors into "the server refused" (fail loudly) and "the server is slow or gone" (wait).
 */
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiError, JetStreamApiCodes, type JetStreamClient, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { parseMsgId } from './batch.js';
import { ShipError } from './errors.js';

export interface Nats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export interface ConnectOptions {
  servers: string | string[];
  /** Request timeout in ms (publish acks, API calls). */
  timeoutMs: number;
  name?: string;
  /** More connection options (user/pass, token, authenticator, tls...). */
  extra?: NatsOptions;
}

/** Connection options passed through to the NATS client (credentials, TLS...). */
export type NatsOptions = Omit<NodeConnectionOptions, 'servers'>;

/**
 * Connect, retrying with backoff while no server answers (until `stopping()`: then undefined), and
 * reconnecting forever once connected. Other connect errors (bad credentials...) are thrown.
 */
export async function connectNats(o: ConnectOptions, stopping: () => boolean, onWait: (why: string) => void): Promise<Nats | undefined> {
  for (let attempt = 0; !stopping(); attempt++) {
    let nc: NatsConnection;
    try {
      nc = await connect({
        name: 'shardlog-ship',
        ...o.extra,
        servers: o.servers,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 2000,
        maxPingOut: 2,
        timeout: o.timeoutMs,
      });
    } catch (e) {
      const err = e as Error;
      if (!/connection refused|timeout|ECONNRESET|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|closed/i.test(err.message)) {
        throw new ShipError('ERR_SHARDLOG_SHIP_REFUSED', `connecting to ${String(o.servers)}: ${err.message}`, { cause: e });
      }
      onWait(`the NATS server at ${String(o.servers)} (${err.message}; attempt ${attempt + 1})`);
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
      continue;
    }
    const jsm = await jetstreamManager(nc, { timeout: o.timeoutMs, checkAPI: false });
    const js = jetstream(nc, { timeout: o.timeoutMs });
    return { nc, js, jsm };
  }
  return undefined;
}

/** True for errors that say the server refused (as opposed to: no answer in time, no connection). */
export function isRefusal(e: unknown): e is JetStreamApiError {
  return e instanceof JetStreamApiError;
}

/** A permissions violation the server sent for this publish or request (it comes as the cause). */
export function permissionError(e: unknown): Error | undefined {
  for (let x = e, i = 0; x instanceof Error && i < 4; x = (x as { cause?: unknown }).cause, i++) {
    if (x.constructor.name === 'PermissionViolationError' || /permissions violation/i.test(x.message)) return x;
  }
  return undefined;
}

export function isWrongLastSequence(e: unknown): boolean {
  return e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** Nobody answered the subject: no stream takes it, or JetStream is (re)starting. */
export function isNoResponders(e: unknown): boolean {
  // the client turns a no-responders reply to a publish into its JetStreamNotEnabled error
  return e instanceof Error && (e.constructor.name === 'JetStreamNotEnabled' || /no responders|jetstream is not enabled/i.test(e.message));
}

export function refused(e: JetStreamApiError, what: string): ShipError {
  return new ShipError('ERR_SHARDLOG_SHIP_REFUSED', `${what}: the server refused: ${e.message} (JetStream error ${e.code})`, { cause: e, serverCode: e.code });
}

/**
 * The stream's info; creates it (subjects `<prefix>.>`) if `create` and it does not exist. Throws
 * ShipError for a missing stream; other errors (timeouts) go to the caller, who retries.
 */
export async function ensureStream(n: Nats, stream: string, subjectPrefix: string, create: boolean): Promise<StreamInfo> {
  try {
    return await n.jsm.streams.info(stream);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== JetStreamApiCodes.StreamNotFound) {
      if (isRefusal(e)) throw refused(e, `stream '${stream}'`);
      throw e;
    }
    if (!create) {
      throw new ShipError('ERR_SHARDLOG_SHIP_NO_STREAM', `stream '${stream}' does not exist on the server: create it (subjects '${subjectPrefix}.>'), or pass createStream: true / --create-stream`, { cause: e });
    }
  }
  try {
    return await n.jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.>`] });
  } catch (e) {
    if (isRefusal(e)) throw refused(e, `creating stream '${stream}'`);
    throw e;
  }
}

export interface LastShipped {
  /** Stream sequence of the subject's last message (0: the subject is empty). */
  streamSeq: number;
  /** Highest log seq in it (0: none). */
  seq: number;
}

/** The last message on `subject`, through its dedup id; it must belong to the log `logId`. */
export async function lastShipped(n: Nats, stream: string, subject: string, logId: string): Promise<LastShipped> {
  let m;
  try {
    m = await n.jsm.streams.getMessage(stream, { last_by_subj: subject });
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
      throw new ShipError('ERR_SHARDLOG_SHIP_NO_STREAM', `stream '${stream}' does not exist on the server (any more)`, { cause: e });
    }
    if (isRefusal(e)) throw refused(e, `reading the last message of '${subject}'`);
    throw e;
  }
  if (!m) return { streamSeq: 0, seq: 0 };
  const id = parseMsgId(m.header?.get('Nats-Msg-Id'));
  if (!id) throw new ShipError('ERR_SHARDLOG_SHIP_FOREIGN', `the last message on '${subject}' (stream seq ${m.seq}) was not shipped by shardlog (no shardlog Nats-Msg-Id): use another subject prefix`);
  if (id.logId !== logId) {
    throw new ShipError('ERR_SHARDLOG_SHIP_FOREIGN', `the last message on '${subject}' (stream seq ${m.seq}) comes from another log (id ${id.logId}, this log is ${logId}): use another subject prefix or stream`);
  }
  return { streamSeq: m.seq, seq: id.last };
}
