/**
 * shipLog(): ship every durable entry of a log to a NATS JetStream stream, exactly once, in order
 * per shard, until stop() (or, for an in-process `log`, until the log is closed and all of it is
 * shipped).
 *
 * Pieces: a source (source.ts: Log.follow() in process, or the polled and fdatasynced files of a
 * log another process writes) feeds one ShardSender per shard (shard-sender.ts: batch messages,
 * dedup ids, expected-last-subject-sequence). Memory is bounded: the pump stops reading once
 * maxBufferedBytes of entries wait for acknowledgement, and each shard has one publish in flight.
 * A retention hold (<dir>/holds/<name>.json) records the highest acknowledged seq per shard, so
 * truncateBefore() never removes what the stream does not have yet.
 */
import * as path from 'node:path';
import { copyReadKeys, readHolds, readKeysOf, writeHold, type EncryptionOptions, type Log, type ReadKeys } from '@shardlog/core';
import { InvalidArgumentError, readManifest, zeroKeyRing } from '@shardlog/workers';
import { ShipError } from './errors.js';
import { connectNats, ensureStream, type Nats, type NatsOptions } from './nats.js';
import { ShardSender, backoff, type SenderHost } from './shard-sender.js';
import { DirSource, LogSource, type EntrySource } from './source.js';

export interface ShipOptions {
  /** An open log (in this process): ships what log.follow() yields. Give `log` or `dir`. */
  log?: Log;
  /** The directory of a log written by another process (or by nobody): polls its files. */
  dir?: string;
  /** NATS server URL(s), e.g. 'nats://127.0.0.1:4222'. */
  servers: string | string[];
  /** The JetStream stream to ship into. */
  stream: string;
  /** Subjects are `<subjectPrefix>.<shard>`. Default 'shardlog'. */
  subjectPrefix?: string;
  /** More NATS connection options: credentials (user/pass, token, authenticator), tls, name... */
  nats?: NatsOptions;
  /** Create the stream (subjects `<prefix>.>`, server defaults otherwise) if it does not exist. Default false. */
  createStream?: boolean;
  /** Keep a retention hold in `<dir>/holds/<holdName>.json`. Default true. */
  hold?: boolean;
  /** The hold's name. Default `ship-<stream>-<subjectPrefix>`. */
  holdName?: string;
  /** Bytes of entries per message at most (capped by the server's max_payload). Default 64 KiB. */
  maxBatchBytes?: number;
  /** Entries per message at most; 1 ships one message per entry. Default 4096. */
  maxBatchEntries?: number;
  /** Entry bytes read from the log and not yet acknowledged, at most, before reading pauses. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** How long to wait for a publish acknowledgement before retrying it, ms. Default 5000. */
  timeoutMs?: number;
  /** With `dir`, for an encrypted log: its keys (`keyId` not needed). With `log`, the log's own keys are used. */
  encryption?: EncryptionOptions;
  /** With `dir`: how often to look for new records, ms. Default 100. */
  pollMs?: number;
  /** How often to rewrite the hold file while shipping, ms. Default 1000. */
  holdIntervalMs?: number;
  /** Called after each acknowledgement: every entry of `shard` up to `seq` is in the stream. */
  onShipped?: (shard: number, seq: number) => void;
}

export interface ShardShipStats {
  shard: number;
  subject: string;
  /** Highest seq of this shard the stream has acknowledged. */
  shippedSeq: number;
  /** The stream sequence of the subject's last message. */
  streamSeq: number;
  /** Entries read and waiting to be acknowledged. */
  bufferedEntries: number;
  inFlight: boolean;
  messages: number;
  retries: number;
  /** Publishes turned down because the stream already had them (another shipper, or an earlier attempt): resumed after. */
  conflicts: number;
  waitingFor: string | undefined;
}

export type ShipState = 'starting' | 'shipping' | 'waiting' | 'stopped' | 'failed';

export interface ShipStats {
  state: ShipState;
  /** What the shipper waits for, when it waits (the server, an acknowledgement...). */
  waitingFor: string | undefined;
  /** Entries acknowledged per second over the last second. */
  entriesPerSec: number;
  /** Entries (and their bytes) acknowledged by the stream since start. */
  shippedEntries: number;
  shippedBytes: number;
  messages: number;
  /** Entries read from the log and not yet acknowledged, and their bytes (bounded by maxBufferedBytes). */
  bufferedEntries: number;
  bufferedBytes: number;
  maxBufferedBytes: number;
  /** Entries appended to the log and not yet acknowledged (with `dir`: an estimate from the bytes). */
  lagEntries: number;
  /** Bytes of those entries (with `log`: an estimate from the mean entry size). */
  lagBytes: number;
  /** Highest seq read from the log. */
  readSeq: number;
  shards: ShardShipStats[];
  error: Error | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Resolved = Required<Omit<ShipOptions, 'log' | 'dir' | 'holdName' | 'onShipped' | 'nats' | 'encryption'>>;

/** Check the options and fill in the defaults. */
function resolveOptions(o: ShipOptions): Resolved {
  if (!o || typeof o !== 'object') throw new InvalidArgumentError('shipLog takes an options object');
  if (!!o.log === !!o.dir) throw new InvalidArgumentError('shipLog takes exactly one of { log } (an open log) and { dir } (a log directory)');
  if (!o.servers || (Array.isArray(o.servers) && o.servers.length === 0)) throw new InvalidArgumentError('shipLog needs servers, e.g. "nats://127.0.0.1:4222"');
  if (!o.stream || !/^[A-Za-z0-9_-]+$/.test(o.stream)) throw new InvalidArgumentError(`shipLog needs a stream name of A-Z a-z 0-9 _ -, got ${JSON.stringify(o.stream)}`);
  const prefix = o.subjectPrefix ?? 'shardlog';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) throw new InvalidArgumentError(`subjectPrefix must be NATS subject tokens without wildcards, got ${JSON.stringify(prefix)}`);
  const pos = (k: keyof ShipOptions, def: number, min = 1): number => {
    const v = (o[k] as number | undefined) ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new InvalidArgumentError(`${k} must be a number >= ${min}, got ${String(v)}`);
    return v;
  };
  return {
    servers: o.servers,
    stream: o.stream,
    subjectPrefix: prefix,
    createStream: o.createStream ?? false,
    hold: o.hold ?? true,
    maxBatchBytes: pos('maxBatchBytes', 64 * 1024, 64),
    maxBatchEntries: Math.floor(pos('maxBatchEntries', 4096)),
    maxBufferedBytes: pos('maxBufferedBytes', 8 * 1024 * 1024, 1024),
    timeoutMs: pos('timeoutMs', 5000, 10),
    pollMs: pos('pollMs', 100),
    holdIntervalMs: pos('holdIntervalMs', 1000),
  };
}


export class Shipper {
  /** Resolves once connected and resumed from the stream (or stopped before that); rejects if that fails. */
  readonly ready: Promise<void>;
  /** Resolves when the shipper has stopped; rejects with the failure (a ShipError, or the log's error). */
  readonly done: Promise<void>;
  readonly dir: string;
  readonly logId: string;
  readonly holdName: string | undefined;
  private readonly o: Resolved;
  /** A log directory that is encrypted: the keys to read it with. */
  private readonly keys: ReadKeys | undefined;
  private readonly natsOptions: NatsOptions | undefined;
  private readonly onShipped: ((shard: number, seq: number) => void) | undefined;
  private readonly log: Log | undefined;
  private readonly shards: number;
  private n: Nats | undefined;
  private senders: ShardSender[] = [];
  private source: EntrySource | undefined;
  private stopRequested = false;
  private state: ShipState = 'starting';
  private error: Error | undefined;
  private startWaiting: string | undefined;
  private sourceEnded = false;
  private bufferedEntries = 0;
  private bufferedBytes = 0;
  private shippedEntries = 0;
  private shippedBytes = 0;
  private readSeq = 0;
  private readBytes = 0;
  private readEntries = 0;
  private roomWake: (() => void) | undefined;
  private rate = 0;
  private rateAt = { t: performance.now(), n: 0 };
  private readonly rateTimer: NodeJS.Timeout;
  private holdWritten = '';
  private holdNap: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  /** @internal use shipLog */
  constructor(o: ShipOptions) {
    this.o = resolveOptions(o);
    const prefix = this.o.subjectPrefix;
    this.log = o.log;
    this.onShipped = o.onShipped;
    this.natsOptions = o.nats;
    this.dir = path.resolve(o.log ? o.log.dir : o.dir!);
    // a copy of the log's keys: the shipper may read its files after the log closed (and zeroed its own)
    this.keys = o.log ? o.log.readKeys && copyReadKeys(o.log.readKeys) : readKeysOf(this.dir, o.encryption);
    if (o.log && o.log.format !== 'framed') throw new InvalidArgumentError(`shipLog ships framed logs; ${this.dir} is in '${o.log.format}' format`);
    const m = readManifest(this.dir);
    if (!m) throw new InvalidArgumentError(`no log at ${this.dir} (no shardlog.json)`);
    if (m.format !== 'framed') throw new InvalidArgumentError(`shipLog ships framed logs; ${this.dir} is in '${m.format}' format`);
    if (!m.id) {
      throw new ShipError('ERR_SHARDLOG_SHIP_NO_LOG_ID', `log ${this.dir} has no id in its shardlog.json (created by an older version): add "id": "<a new random UUID>" to the manifest to ship it`);
    }
    this.logId = m.id;
    this.holdName = this.o.hold ? (o.holdName ?? `ship-${this.o.stream}-${prefix}`) : undefined;
    this.shards = m.shards;
    this.rateTimer = setInterval(() => this.tickRate(), 1000);
    this.rateTimer.unref();
    let readyOk!: () => void;
    let readyFail!: (e: unknown) => void;
    this.ready = new Promise<void>((a, b) => ((readyOk = a), (readyFail = b)));
    this.done = this.run(readyOk).catch((e) => {
      readyFail(e);
      throw e;
    });
    // the caller learns of a failure from done/ready/stats(); an unawaited one must not crash the process
    this.ready.catch(() => {});
    this.done.catch(() => {});
  }

  /** Stop: no new publishes; the ones in flight finish (or time out). Resolves when stopped (never rejects). */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.source?.interrupt();
    this.wakeHoldLoop();
    this.roomWake?.();
    for (const s of this.senders) s.poke();
    await this.done.catch(() => {});
  }

  /** The first failure stops everything. */
  private fail(e: unknown): void {
    if (!this.error) this.error = e as Error;
    this.stopRequested = true;
    this.source?.interrupt();
    this.wakeHoldLoop();
    this.roomWake?.();
    for (const s of this.senders) s.poke();
  }

  private wakeHoldLoop(): void {
    if (this.holdNap) {
      clearTimeout(this.holdNap.timer);
      this.holdNap.wake();
    }
  }

  private stopping(): boolean {
    return this.stopRequested || this.error !== undefined;
  }

  private async run(readyOk: () => void): Promise<void> {
    try {
      await this.start();
      readyOk();
      if (this.stopping()) return;
      this.state = 'shipping';
      const more = () => !this.sourceEnded && !this.stopping();
      const senders = Promise.all(this.senders.map((s) => s.run(more).catch((e: unknown) => this.fail(e))));
      const holds = this.holdLoop().catch((e: unknown) => this.fail(e));
      try {
        await this.pump();
      } catch (e) {
        this.fail(e);
      } finally {
        for (const s of this.senders) s.poke();
        await senders;
        this.stopRequested = true;
        this.wakeHoldLoop();
        await holds;
      }
    } catch (e) {
      this.fail(e);
    } finally {
      clearInterval(this.rateTimer);
      this.source?.close();
      zeroKeyRing(this.keys?.keys);
      if (this.holdName && this.senders.length > 0) {
        try {
          this.writeHoldNow();
        } catch (e) {
          if (!this.error) this.error = e as Error;
        }
      }
      await this.n?.nc.close().catch(() => {});
      this.state = this.error ? 'failed' : 'stopped';
    }
    if (this.error) throw this.error;
  }

  /** Connect, check the stream, read each shard's last shipped seq, write the hold, open the source. */
  private async start(): Promise<void> {
    const servers = Array.isArray(this.o.servers) ? this.o.servers.join(', ') : this.o.servers;
    this.startWaiting = `the NATS server at ${servers}`;
    const n = await connectNats({ servers: this.o.servers, timeoutMs: this.o.timeoutMs, extra: this.natsOptions }, () => this.stopping(), (why) => (this.startWaiting = why));
    if (!n) return;
    this.n = n;
    for (let attempt = 0; ; attempt++) {
      try {
        await ensureStream(n, this.o.stream, this.o.subjectPrefix, this.o.createStream);
        break;
      } catch (e) {
        if (e instanceof ShipError || this.stopping()) throw e;
        this.startWaiting = `JetStream on ${servers} to answer (${(e as Error).message})`;
        await sleep(backoff(attempt));
      }
    }
    this.startWaiting = undefined;
    const maxPayload = n.nc.info?.max_payload ?? 1024 * 1024;
    const host: SenderHost = {
      stopping: () => this.stopping(),
      released: (entries, bytes, acked) => this.released(entries, bytes, acked),
      shipped: (shard, seq) => this.onShipped?.(shard, seq),
      waiting: () => {},
    };
    const cfg = {
      stream: this.o.stream,
      subjectPrefix: this.o.subjectPrefix,
      logId: this.logId,
      maxBatchBytes: Math.min(this.o.maxBatchBytes, maxPayload - 1024),
      maxBatchEntries: this.o.maxBatchEntries,
      timeoutMs: this.o.timeoutMs,
      createStream: this.o.createStream,
    };
    const senders = Array.from({ length: this.shards }, (_, s) => new ShardSender(s, n, cfg, host));
    this.senders = senders;
    // The stream decides where shipping resumes; this shipper's own hold (which only ever lags the
    // stream) is a floor, so a subject the stream's limits emptied (max_age...) is not shipped again.
    const mine = this.holdName ? readHolds(this.dir).find((h) => h.holder === this.holdName && h.logId === this.logId) : undefined;
    if (mine) for (const s of senders) s.shippedSeq = mine.shipped[s.shard] ?? 0;
    await Promise.all(senders.map((s) => s.resume()));
    if (this.holdName) this.writeHoldNow();
    const shipped = senders.map((s) => s.shippedSeq);
    this.source = this.log ? this.logSource(this.log, shipped) : new DirSource(this.dir, shipped, this.o.pollMs, false, undefined, this.keys);
  }

  /** follow() the log; if it was closed meanwhile, its files hold everything (close syncs): read them to the end. */
  private logSource(log: Log, shipped: number[]): EntrySource {
    try {
      return new LogSource(log, shipped, this.keys);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_SHARDLOG_CLOSED') throw e;
      return new DirSource(this.dir, shipped, this.o.pollMs, true, undefined, this.keys);
    }
  }

  /** Read entries into the shard queues while there is room. */
  private async pump(): Promise<void> {
    const src = this.source!;
    while (!this.stopping()) {
      if (this.bufferedBytes >= this.o.maxBufferedBytes) {
        await new Promise<void>((r) => (this.roomWake = r));
        continue;
      }
      const got = await src.pull(this.o.maxBufferedBytes - this.bufferedBytes); // stop() interrupts a pull that waits
      if (this.stopping()) return;
      if (got === null) {
        this.sourceEnded = true;
        return;
      }
      for (const e of got) {
        const sender = this.senders[e.shard];
        if (!sender || e.seq <= sender.shippedSeq) continue;
        sender.push({ seq: e.seq, isText: e.isText, data: new Uint8Array(e.data) });
        this.bufferedEntries++;
        this.bufferedBytes += e.data.length;
        this.readEntries++;
        this.readBytes += e.data.length;
        if (e.seq > this.readSeq) this.readSeq = e.seq;
      }
    }
  }

  private released(entries: number, bytes: number, acked: number): void {
    this.bufferedEntries -= entries;
    this.bufferedBytes -= bytes;
    if (acked > 0) {
      this.shippedEntries += acked;
      this.shippedBytes += bytes;
    }
    if (this.bufferedBytes < this.o.maxBufferedBytes) {
      const w = this.roomWake;
      this.roomWake = undefined;
      w?.();
    }
  }

  private async holdLoop(): Promise<void> {
    if (!this.holdName) return;
    while (!this.stopping()) {
      await new Promise<void>((r) => (this.holdNap = { timer: setTimeout(r, this.o.holdIntervalMs), wake: r }));
      this.holdNap = undefined;
      this.writeHoldNow();
    }
  }

  /** Write the hold if it changed (atomically and durably). */
  private writeHoldNow(): void {
    const shipped = this.senders.map((s) => s.shippedSeq);
    const key = shipped.join(',');
    if (key === this.holdWritten) return;
    writeHold(this.dir, { holder: this.holdName!, logId: this.logId, shipped, updated: new Date().toISOString() });
    this.holdWritten = key;
  }

  private tickRate(): void {
    const t = performance.now();
    this.rate = ((this.shippedEntries - this.rateAt.n) * 1000) / Math.max(1, t - this.rateAt.t);
    this.rateAt = { t, n: this.shippedEntries };
  }

  stats(): ShipStats {
    const shards: ShardShipStats[] = this.senders.map((s) => ({
      shard: s.shard,
      subject: s.subject,
      shippedSeq: s.shippedSeq,
      streamSeq: s.streamSeq,
      bufferedEntries: s.queuedEntries,
      inFlight: s.inFlight,
      messages: s.messages,
      retries: s.retries,
      conflicts: s.conflicts,
      waitingFor: s.waitingFor,
    }));
    const waits = [this.startWaiting, ...shards.map((s) => s.waitingFor)].filter((w): w is string => !!w);
    if (this.state === 'shipping' && this.bufferedBytes >= this.o.maxBufferedBytes && waits.length === 0) {
      const inFlight = shards.filter((x) => x.inFlight).length;
      waits.push(`the NATS server to acknowledge (${inFlight} publishes in flight; reading paused: ${this.bufferedBytes} of ${this.o.maxBufferedBytes} buffered bytes)`);
    }
    const mean = this.readEntries > 0 ? this.readBytes / this.readEntries : 0;
    let lagEntries = this.bufferedEntries;
    let lagBytes = this.bufferedBytes;
    if (this.log && this.state !== 'starting') {
      const unread = Math.max(0, this.log.nextSeq - 1 - this.readSeq);
      lagEntries += unread;
      lagBytes += Math.round(unread * mean);
    } else if (this.source && !this.log) {
      const unread = this.source.unreadBytes() ?? 0;
      lagBytes += unread;
      if (unread > 0) lagEntries += Math.ceil(unread / (mean + 24));
    }
    const state: ShipState = this.state === 'shipping' && waits.length > 0 ? 'waiting' : this.state;
    return {
      state,
      waitingFor: state === 'stopped' || state === 'failed' ? undefined : waits[0],
      entriesPerSec: this.rate,
      shippedEntries: this.shippedEntries,
      shippedBytes: this.shippedBytes,
      messages: shards.reduce((a, s) => a + s.messages, 0),
      bufferedEntries: this.bufferedEntries,
      bufferedBytes: this.bufferedBytes,
      maxBufferedBytes: this.o.maxBufferedBytes,
      lagEntries,
      lagBytes,
      readSeq: this.readSeq,
      shards,
      error: this.error,
    };
  }
}

/** Start shipping a log to a JetStream stream. Returns at once; see Shipper.ready, stats(), stop(), done. */
export function shipLog(options: ShipOptions): Shipper {
  return new Shipper(options);
}
