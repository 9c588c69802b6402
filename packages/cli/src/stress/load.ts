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
import { crc32cUpdate } from '@shardlog/workers';
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
export async function runProducer(p: Producer, id: number, cfg: LoadConfig, stop: Int32Array, post: (m: LoadMessage) => void): Promise<Extract<LoadMessage, { type: 'done' }>> {
  const gen = new Payloads({ seed: cfg.seed, kind: cfg.kind, size: cfg.size });
  const rng = new Rng(cfg.seed + id * 7919 + 1);
  const hist = newHistogram();
  const binary = cfg.kind === 'binary';
  let appended = 0;
  let appendedMax = 0;
  let hash = 0;
  let lastSeq = 0;
  let ack: AckPoint = { count: 0, hash: 0, lastSeq: 0 };
  let ackPosted = -1;
  let appendError: ErrorInfo | undefined;
  let durableError: ErrorInfo | undefined;
  const inflight: Promise<void>[] = [];
  let unsettled = 0;
  let lastAckCall = 0;
  let lastAckPost = 0;
  let lastHistPost = Date.now();
  const t0 = Date.now();
  const batch: (string | Uint8Array)[] = [];

  const postAck = (force: boolean) => {
    const now = Date.now();
    if (ack.count === ackPosted || (!force && now - lastAckPost < ACK_POST_MS)) return;
    lastAckPost = now;
    ackPosted = ack.count;
    post({ type: 'ack', producer: id, ack, appended });
  };
  const postHist = () => {
    lastHistPost = Date.now();
    post({ type: 'hist', producer: id, hist: hdr.encodeIntoCompressedBase64(hist) });
  };
  const callDurable = () => {
    const snap: AckPoint = { count: appended, hash, lastSeq };
    const t = performance.now();
    unsettled++;
    inflight.push(
      // no argument: "everything this producer appended so far", the whole prefix the ack point claims
      p.durable().then(
        () => {
          unsettled--;
          hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
          if (snap.count > ack.count) ack = snap;
        },
        (e: unknown) => {
          unsettled--;
          durableError ??= errorInfo(e);
        },
      ),
    );
  };

  while (appended < cfg.quota && Date.now() < cfg.deadline && Atomics.load(stop, 0) === 0) {
    let cap = cfg.quota - appended;
    if (cfg.rate > 0) {
      const allowed = Math.floor(((Date.now() - t0) / 1000) * cfg.rate) + 1;
      if (appended >= allowed) {
        postAck(false);
        await sleep(Math.max(1, Math.ceil(((appended + 1 - allowed) / cfg.rate) * 1000)));
        continue;
      }
      cap = Math.min(cap, allowed - appended);
    }
    const burstEnd = performance.now() + BURST_MS;
    let n = 0;
    try {
      while (n < cap) {
        const many = cfg.api === 'many' || (cfg.api === 'mixed' && (rng.next() & 7) === 0);
        if (many) {
          const k = Math.min(1 + (rng.next() % MAX_MANY), cap - n);
          batch.length = 0;
          for (let j = 0; j < k; j++) batch.push(binary ? Uint8Array.prototype.slice.call(gen.binary(id, appended + j)) : gen.string(id, appended + j));
          appendedMax = appended + k; // if appendMany throws midway, some of these may be in the log
          const last = p.appendMany(batch);
          for (let j = 0; j < k; j++) {
            const e = batch[j];
            const bytes = typeof e === 'string' ? gen.encode(e) : e;
            hash = crc32cUpdate(hash, bytes, 0, bytes.length);
          }
          lastSeq = last;
          appended += k;
          n += k;
        } else {
          let seq: number;
          let bytes: Uint8Array;
          appendedMax = appended + 1;
          if (binary) {
            bytes = gen.binary(id, appended);
            seq = p.append(bytes);
          } else {
            const s = gen.string(id, appended);
            seq = p.append(s);
            bytes = gen.encode(s);
          }
          hash = crc32cUpdate(hash, bytes, 0, bytes.length);
          lastSeq = seq;
          appended++;
          n++;
        }
        if ((n & 15) === 0 && performance.now() >= burstEnd) break;
      }
    } catch (e) {
      appendError = errorInfo(e);
    }
    appendedMax = Math.max(appendedMax, appended);
    if (n > 0 && (cfg.ackMs === 0 || Date.now() - lastAckCall >= cfg.ackMs)) {
      lastAckCall = Date.now();
      callDurable();
    }
    if (appendError) break;
    if (inflight.length >= MAX_IN_FLIGHT) {
      const oldest = inflight.shift()!;
      if (!(await settleWithin(oldest, cfg.hangMs))) break; // durable() stuck: reported as a hang below
    }
    postAck(false);
    if (Date.now() - lastHistPost >= HIST_POST_MS) postHist();
    await immediate();
  }

  if (!appendError && appended > 0 && cfg.ackMs > 0) callDurable(); // the tail since the last ack
  let probe: 'rejected' | 'resolved' | 'hung' | undefined;
  let probeError: ErrorInfo | undefined;
  if (appendError) {
    // The log failed under us: one more durable() must reject promptly.
    let outcome: 'rejected' | 'resolved' | undefined;
    const settled = await settleWithin(
      p.durable().then(
        () => void (outcome = 'resolved'),
        (e: unknown) => {
          outcome = 'rejected';
          probeError = errorInfo(e);
        },
      ),
      cfg.hangMs,
    );
    probe = settled ? outcome : 'hung';
  }
  await settleWithin(Promise.all(inflight), cfg.hangMs);
  postAck(true);
  postHist();
  const done: Extract<LoadMessage, { type: 'done' }> = { type: 'done', producer: id, appended, appendedMax, ack, appendError, durableError, probe, probeError, hung: unsettled };
  post(done);
  return done;
}
