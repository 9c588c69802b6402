/**
 * One producer's load loop, the same in the main thread and in producer threads.
 *
 * It appends in bursts (about 1 ms, or what --rate allows), entries from Payloads, with append() or
 * appendMany() as --api says, then calls durable() for everything appended so far, keeping at most
 * MAX_IN_FLIGHT of those in flight. Its digest is compact: the count of entries appended, a running
 * CRC-32C of their payloads, and the ack point (count, hash, seq) of the latest durable() that
 * resolved; never a copy of the data. The ack point is posted every ACK_POST_MS and at the end.
 *
 * On an append error (the log failed) it stops, asks durable() once more (it must reject, never hang)
 * and waits at most hangMs for its outstanding durable() calls: any still unsettled count as a hang.
 */
import { align8, crc32cUpdate, HEADER_BYTES } from '@shardlog/workers';
import * as hdr from 'hdr-histogram-js';
import type { Producer } from '@shardlog/core';
import { errorInfo, type AckPoint, type ErrorInfo, type LoadMessage } from './messages.js';
import type { SizeDist } from './options.js';
import { Payloads } from './payload.js';
import { Rng } from './prng.js';

export interface LoadConfig {
  seed: number;
  kind: 'binary' | 'string';
  size: SizeDist;
  api: 'append' | 'many' | 'mixed';
  /** Entries per second for this producer, 0 = unbounded. */
  rate: number;
  /** Stop at this wall-clock time (Date.now()); Infinity = no deadline. */
  deadline: number;
  /** Stop after this many entries; Infinity = no quota. */
  quota: number;
  ackMs: number;
  hangMs: number;
  /** Post the latency histogram this often (default 250 ms). */
  histMs?: number;
}

const MAX_IN_FLIGHT = 64;
const BURST_MS = 1;
const MAX_MANY = 16;
const ACK_POST_MS = 10;
const HIST_POST_MS = 250;

/** Latency histogram in microseconds, 1 µs to 1 hour, 3 significant digits. */
export function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

const immediate = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function settleWithin<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * Run producer `id`'s load on `p` until the deadline, the quota, a stop request (stop[0] != 0) or a
 * failure. Posts ack / hist messages while it runs and one 'done' at the end (also returned).
 */
export function runProducer(p: Producer, id: number, cfg: LoadConfig, stop: Int32Array, post: (m: LoadMessage) => void): Promise<Done> {
  return new ProducerLoad(p, id, cfg, stop, post).run();
}

type Done = Extract<LoadMessage, { type: 'done' }>;

/** One producer's running digest and the load loop over it (see the module comment). */
class ProducerLoad {
  private readonly gen: Payloads;
  private readonly rng: Rng;
  private readonly hist = newHistogram();
  private readonly binary: boolean;
  private appended = 0;
  private appendedMax = 0;
  private hash = 0;
  private lastSeq = 0;
  private ack: AckPoint = { count: 0, hash: 0, lastSeq: 0 };
  private ackPosted = -1;
  private appendError: ErrorInfo | undefined;
  private durableError: ErrorInfo | undefined;
  private readonly inflight: Promise<void>[] = [];
  private unsettled = 0;
  private lastAckCall = 0;
  private lastAckPost = 0;
  private lastHistPost = Date.now();
  private readonly t0 = Date.now();
  private readonly batch: (string | Uint8Array)[] = [];

  constructor(
    private readonly p: Producer,
    private readonly id: number,
    private readonly cfg: LoadConfig,
    private readonly stop: Int32Array,
    private readonly post: (m: LoadMessage) => void,
  ) {
    this.gen = new Payloads({ seed: cfg.seed, kind: cfg.kind, size: cfg.size });
    this.rng = new Rng(cfg.seed + id * 7919 + 1);
    this.binary = cfg.kind === 'binary';
  }

  async run(): Promise<Done> {
    const cfg = this.cfg;
    while (this.appended < cfg.quota && Date.now() < cfg.deadline && Atomics.load(this.stop, 0) === 0) {
      let cap = cfg.quota - this.appended;
      if (cfg.rate > 0) {
        const allowed = Math.floor(((Date.now() - this.t0) / 1000) * cfg.rate) + 1;
        if (this.appended >= allowed) {
          this.postAck(false);
          await sleep(Math.max(1, Math.ceil(((this.appended + 1 - allowed) / cfg.rate) * 1000)));
          continue;
        }
        cap = Math.min(cap, allowed - this.appended);
      }
      const n = this.burst(cap);
      if (n > 0 && (cfg.ackMs === 0 || Date.now() - this.lastAckCall >= cfg.ackMs)) {
        this.lastAckCall = Date.now();
        this.callDurable();
      }
      if (this.appendError) break;
      if (this.inflight.length >= MAX_IN_FLIGHT) {
        const oldest = this.inflight.shift()!;
        if (!(await settleWithin(oldest, cfg.hangMs))) break; // durable() stuck: reported as a hang below
      }
      this.postAck(false);
      if (Date.now() - this.lastHistPost >= (cfg.histMs ?? HIST_POST_MS)) this.postHist();
      await immediate();
    }
    return this.finish();
  }

  /** Append up to `cap` entries for about BURST_MS; how many went in. An append error ends the burst. */
  private burst(cap: number): number {
    const burstEnd = performance.now() + BURST_MS;
    let n = 0;
    try {
      while (n < cap) {
        const many = this.cfg.api === 'many' || (this.cfg.api === 'mixed' && (this.rng.next() & 7) === 0);
        n += many ? this.appendMany(cap - n) : this.appendOne();
        if ((n & 15) === 0 && performance.now() >= burstEnd) break;
      }
    } catch (e) {
      this.appendError = errorInfo(e);
    }
    this.appendedMax = Math.max(this.appendedMax, this.appended);
    return n;
  }

  /** One appendMany() of up to MAX_MANY entries (at most `room`); how many it appended. */
  private appendMany(room: number): number {
    const { gen, batch, id } = this;
    const want = Math.min(1 + (this.rng.next() % MAX_MANY), room);
    // one appendMany is one reservation of at most half the ring: stop the batch before it would pass that
    const limit = this.p.maxEntryBytes + HEADER_BYTES;
    let bytes = 0;
    batch.length = 0;
    for (let j = 0; j < want; j++) {
      const e = this.binary ? Uint8Array.prototype.slice.call(gen.binary(id, this.appended + j)) : gen.string(id, this.appended + j);
      const frame = align8(HEADER_BYTES + (typeof e === 'string' ? Buffer.byteLength(e) : e.length));
      if (j > 0 && bytes + frame > limit) break;
      bytes += frame;
      batch.push(e);
    }
    const k = batch.length;
    this.appendedMax = this.appended + k; // if appendMany throws midway, some of these may be in the log
    const last = this.p.appendMany(batch);
    for (let j = 0; j < k; j++) {
      const e = batch[j];
      const bytes = typeof e === 'string' ? gen.encode(e) : e;
      this.hash = crc32cUpdate(this.hash, bytes, 0, bytes.length);
    }
    this.lastSeq = last;
    this.appended += k;
    return k;
  }

  /** One append(); 1. */
  private appendOne(): number {
    const { gen, id } = this;
    let seq: number;
    let bytes: Uint8Array;
    this.appendedMax = this.appended + 1;
    if (this.binary) {
      bytes = gen.binary(id, this.appended);
      seq = this.p.append(bytes);
    } else {
      const s = gen.string(id, this.appended);
      seq = this.p.append(s);
      bytes = gen.encode(s);
    }
    this.hash = crc32cUpdate(this.hash, bytes, 0, bytes.length);
    this.lastSeq = seq;
    this.appended++;
    return 1;
  }

  private postAck(force: boolean): void {
    const now = Date.now();
    if (this.ack.count === this.ackPosted || (!force && now - this.lastAckPost < ACK_POST_MS)) return;
    this.lastAckPost = now;
    this.ackPosted = this.ack.count;
    this.post({ type: 'ack', producer: this.id, ack: this.ack, appended: this.appended });
  }

  private postHist(): void {
    this.lastHistPost = Date.now();
    this.post({ type: 'hist', producer: this.id, hist: hdr.encodeIntoCompressedBase64(this.hist) });
  }

  /** durable() for everything appended so far; when it resolves, that prefix is the new ack point. */
  private callDurable(): void {
    const snap: AckPoint = { count: this.appended, hash: this.hash, lastSeq: this.lastSeq };
    const t = performance.now();
    this.unsettled++;
    this.inflight.push(
      // no argument: "everything this producer appended so far", the whole prefix the ack point claims
      this.p.durable().then(
        () => {
          this.unsettled--;
          this.hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
          if (snap.count > this.ack.count) this.ack = snap;
        },
        (e: unknown) => {
          this.unsettled--;
          this.durableError ??= errorInfo(e);
        },
      ),
    );
  }

  /** The log failed under us: one more durable() must reject promptly. */
  private async probeAfterFailure(): Promise<{ probe: 'rejected' | 'resolved' | 'hung'; probeError?: ErrorInfo }> {
    let outcome: 'rejected' | 'resolved' | undefined;
    let probeError: ErrorInfo | undefined;
    const settled = await settleWithin(
      this.p.durable().then(
        () => void (outcome = 'resolved'),
        (e: unknown) => {
          outcome = 'rejected';
          probeError = errorInfo(e);
        },
      ),
      this.cfg.hangMs,
    );
    return { probe: settled ? outcome! : 'hung', probeError };
  }

  /** The tail's durable(), the failure probe, the wait for outstanding durable() calls, then 'done'. */
  private async finish(): Promise<Done> {
    if (!this.appendError && this.appended > 0 && this.cfg.ackMs > 0) this.callDurable(); // the tail since the last ack
    const { probe, probeError } = this.appendError ? await this.probeAfterFailure() : { probe: undefined, probeError: undefined };
    await settleWithin(Promise.all(this.inflight), this.cfg.hangMs);
    this.postAck(true);
    this.postHist();
    const { id, appended, appendedMax, ack, appendError, durableError } = this;
    const done: Done = { type: 'done', producer: id, appended, appendedMax, ack, appendError, durableError, probe, probeError, hung: this.unsettled };
    this.post(done);
    return done;
  }
}
