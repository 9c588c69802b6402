/**
 * One shard's publisher: a queue of entries read from the log, shipped in order as batch messages
 * to `<prefix>.<shard>`, exactly once.
 *
 * Exactly once rests on two server checks per message: the dedup id (`Nats-Msg-Id` = log id + seq
 * range) and `Nats-Expected-Last-Subject-Sequence` = the stream sequence of the subject's last
 * message as this sender last knew it. A resend of a message that did get in (ack lost, server
 * restart) is a duplicate within the dedup window, and a wrong-last-sequence error after it, or
 * whenever another shipper got there first: then the sender reads the subject's last message back
 * from the stream and carries on after the seq it ends with. The check needs the stream sequence
 * of the previous message, so a shard has one publish in flight at a time; batching is what makes
 * that fast (shards publish in parallel).
 */
import type { PubAck } from '@nats-io/jetstream';
import { encodeBatch, entryOverhead, msgId, type ShipEntry } from './batch.js';
import { ShipError } from './errors.js';
import { isNoResponders, isRefusal, permissionError, isWrongLastSequence, lastShipped, refused, ensureStream, type Nats } from './nats.js';

export interface SenderConfig {
  stream: string;
  subjectPrefix: string;
  logId: string;
  maxBatchBytes: number;
  maxBatchEntries: number;
  timeoutMs: number;
  createStream: boolean;
}

/** What the shipper hands each sender and hears back. */
export interface SenderHost {
  stopping(): boolean;
  /** Called when entries left the queue (acknowledged, or found already shipped). */
  released(entries: number, bytes: number, acked: number): void;
  /** An acknowledgement: the stream holds this shard up to seq. */
  shipped(shard: number, seq: number): void;
  /** Set or clear what the sender is waiting for (for stats and progress). */
  waiting(shard: number, what: string | undefined): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ShardSender {
  readonly subject: string;
  /** Highest log seq the stream holds for this shard. */
  shippedSeq = 0;
  /** Stream sequence of the subject's last message (0: none). */
  streamSeq = 0;
  messages = 0;
  retries = 0;
  /** Publishes the stream turned down as already done (wrong last sequence, duplicate): someone else shipped. */
  conflicts = 0;
  inFlight = false;
  waitingFor: string | undefined;
  private queue: ShipEntry[] = [];
  private head = 0;
  private queuedBytes = 0;
  private wake: (() => void) | undefined;

  constructor(
    readonly shard: number,
    private readonly n: Nats,
    private readonly cfg: SenderConfig,
    private readonly host: SenderHost,
  ) {
    this.subject = `${cfg.subjectPrefix}.${shard}`;
  }

  get queuedEntries(): number {
    return this.queue.length - this.head;
  }
  get bytes(): number {
    return this.queuedBytes;
  }

  /** Read where the stream stands for this shard (retrying while the server does not answer). */
  async resume(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const l = await lastShipped(this.n, this.cfg.stream, this.subject, this.cfg.logId);
        this.streamSeq = l.streamSeq;
        if (l.seq > this.shippedSeq) {
          this.shippedSeq = l.seq;
          this.host.shipped(this.shard, l.seq);
        }
        this.setWaiting(undefined);
        this.dropShipped();
        return;
      } catch (e) {
        if (e instanceof ShipError || this.host.stopping()) throw e;
        this.setWaiting(`the NATS server to answer (reading the last message of ${this.subject}: ${(e as Error).message})`);
        await sleep(backoff(attempt));
      }
    }
  }

  push(e: ShipEntry): void {
    this.queue.push(e);
    this.queuedBytes += e.data.length;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Wake the loop (new entries, stop, or the source ended). */
  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Ship until the queue is empty and `more()` says nothing more will come, or the shipper stops. */
  async run(more: () => boolean): Promise<void> {
    for (;;) {
      this.dropShipped();
      if (this.host.stopping()) return;
      if (this.queuedEntries === 0) {
        if (!more()) return;
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      await this.publishNext();
    }
  }

  /** Entries at or below shippedSeq are in the stream already: let them go. */
  private dropShipped(): void {
    let n = 0;
    let bytes = 0;
    while (this.head < this.queue.length && this.queue[this.head].seq <= this.shippedSeq) {
      bytes += this.queue[this.head].data.length;
      this.head++;
      n++;
    }
    if (n > 0) this.release(n, bytes, 0);
  }

  private release(n: number, bytes: number, acked: number): void {
    this.queuedBytes -= bytes;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.host.released(n, bytes, acked);
  }

  /** The batch at the head of the queue: [head, end). */
  private batchEnd(): number {
    let end = this.head;
    let size = 8;
    let prev = 0;
    while (end < this.queue.length && end - this.head < this.cfg.maxBatchEntries) {
      const e = this.queue[end];
      const add = entryOverhead(e, prev) + e.data.length;
      if (end > this.head && size + add > this.cfg.maxBatchBytes) break;
      if (end === this.head && size + add > this.cfg.maxBatchBytes) {
        throw new ShipError('ERR_SHARDLOG_SHIP_TOO_LARGE', `entry ${e.seq} (${e.data.length} bytes) does not fit in one message of at most ${this.cfg.maxBatchBytes} bytes (the server's max_payload): raise max_payload in the server's configuration`);
      }
      size += add;
      prev = e.seq;
      end++;
    }
    return end;
  }

  /** Publish the head batch; retries until it is in, known in, or refused. */
  private async publishNext(): Promise<void> {
    const end = this.batchEnd();
    const first = this.queue[this.head].seq;
    const last = this.queue[end - 1].seq;
    const body = encodeBatch(this.queue, this.head, end);
    const id = msgId(this.cfg.logId, first, last);
    for (let attempt = 0; ; attempt++) {
      let ack: PubAck;
      this.inFlight = true;
      try {
        ack = await this.n.js.publish(this.subject, body, { msgID: id, expect: { lastSubjectSequence: this.streamSeq }, timeout: this.cfg.timeoutMs });
      } catch (e) {
        this.inFlight = false;
        if (isWrongLastSequence(e)) {
          this.conflicts++;
          // someone else shipped to this subject (another shipper, or our own earlier attempt
          // after the dedup window): read where the stream stands and go on after it
          await this.resume();
          return;
        }
        if (isRefusal(e)) throw refused(e, `publishing seqs ${first}-${last} to '${this.subject}'`);
        const denied = permissionError(e);
        if (denied) throw new ShipError('ERR_SHARDLOG_SHIP_REFUSED', `publishing to '${this.subject}': the server refused: ${denied.message}`, { cause: e });
        if (isNoResponders(e)) await this.checkStream(); // throws if the stream is gone
        if (this.host.stopping()) return;
        this.retries++;
        this.setWaiting(`the NATS server to acknowledge seqs ${first}-${last} on ${this.subject} (${(e as Error).message}; retry ${attempt + 1})`);
        await sleep(backoff(attempt));
        continue;
      }
      this.inFlight = false;
      this.setWaiting(undefined);
      if (ack.duplicate) {
        this.conflicts++;
        // this exact message is in the stream already (an earlier attempt got in): the subject
        // may have moved on since, so read its last message back
        await this.resume();
        return;
      }
      this.messages++;
      this.streamSeq = ack.seq;
      this.shippedSeq = last;
      let bytes = 0;
      for (let i = this.head; i < end; i++) bytes += this.queue[i].data.length;
      const n = end - this.head;
      this.head = end;
      this.release(n, bytes, n);
      this.host.shipped(this.shard, last);
      return;
    }
  }

  /** No responders: the stream is gone (fail), does not take our subject (fail), or JetStream is starting (wait). */
  private async checkStream(): Promise<void> {
    let info;
    try {
      info = await ensureStream(this.n, this.cfg.stream, this.cfg.subjectPrefix, this.cfg.createStream);
    } catch (e) {
      if (e instanceof ShipError) throw e;
      return; // no answer either: the server is starting or gone; retry
    }
    const subjects = info.config.subjects ?? [];
    if (!subjects.some((p) => subjectMatches(p, this.subject))) {
      throw new ShipError('ERR_SHARDLOG_SHIP_REFUSED', `stream '${this.cfg.stream}' does not take subject '${this.subject}' (its subjects: ${subjects.join(', ') || 'none'})`);
    }
  }

  private setWaiting(what: string | undefined): void {
    this.waitingFor = what;
    this.host.waiting(this.shard, what);
  }
}

/** Does NATS subject pattern p (with * and >) match subject s? */
export function subjectMatches(p: string, s: string): boolean {
  const a = p.split('.');
  const b = s.split('.');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '>') return b.length > i;
    if (i >= b.length || (a[i] !== '*' && a[i] !== b[i])) return false;
  }
  return a.length === b.length;
}

/** 100 ms doubling to 2 s. */
export function backoff(attempt: number): number {
  return Math.min(2000, 100 * 2 ** Math.min(attempt, 5));
}
