/**
 * The runner's side of the load messages: the latest ack point of every producer (what the runner
 * was told is durable), how each producer ended, latency histograms, and per-session throughput.
 * In kill mode it only ever holds what reached the runner before the SIGKILL.
 */
import * as hdr from 'hdr-histogram-js';
import { newHistogram } from './load.js';
import type { AckPoint, ErrorInfo, LoadMessage, RecoverySummary, StatsSample } from './messages.js';
import type { ProducerExpectation } from './verify.js';

type Done = Extract<LoadMessage, { type: 'done' }>;
type End = Extract<LoadMessage, { type: 'session-end' }>;

export interface Phase {
  name: string;
  producers: number[];
  ready?: { pid: number; maxEntryBytes: number; recovery: RecoverySummary[] };
  last?: { t: number; stats: StatsSample };
  end?: End;
}

export class Collector {
  readonly acks = new Map<number, AckPoint>();
  readonly appended = new Map<number, number>();
  readonly done = new Map<number, Done>();
  private readonly hists = new Map<number, string>();
  readonly phases: Phase[] = [];
  listener: ((m: LoadMessage, c: Collector) => void) | undefined;

  /** Start a phase (one session) whose producers have these ids. */
  phase(name: string, producers: number[]): Phase {
    const p: Phase = { name, producers };
    this.phases.push(p);
    for (const id of producers) this.acks.set(id, { count: 0, hash: 0, lastSeq: 0 });
    return p;
  }

  get current(): Phase {
    return this.phases[this.phases.length - 1];
  }

  on = (m: LoadMessage): void => {
    const ph = this.current;
    switch (m.type) {
      case 'ready':
        ph.ready = { pid: m.pid, maxEntryBytes: m.maxEntryBytes, recovery: m.recovery };
        break;
      case 'ack': {
        const prev = this.acks.get(m.producer);
        if (!prev || m.ack.count > prev.count) this.acks.set(m.producer, m.ack);
        this.appended.set(m.producer, m.appended);
        break;
      }
      case 'hist':
        this.hists.set(m.producer, m.hist);
        break;
      case 'stats':
        ph.last = { t: m.t, stats: m.stats };
        break;
      case 'done': {
        this.done.set(m.producer, m);
        const prev = this.acks.get(m.producer);
        if (!prev || m.ack.count > prev.count) this.acks.set(m.producer, m.ack);
        this.appended.set(m.producer, m.appended);
        break;
      }
      case 'session-end':
        ph.end = m;
        ph.last = { t: m.elapsedMs, stats: m.stats };
        break;
    }
    this.listener?.(m, this);
  };

  ackedTotal(): number {
    let n = 0;
    for (const a of this.acks.values()) n += a.count;
    return n;
  }

  /** What the verifier must find: exact for producers of sessions that closed cleanly, the ack point otherwise. */
  expectations(): Map<number, ProducerExpectation> {
    const out = new Map<number, ProducerExpectation>();
    for (const ph of this.phases) {
      const clean = ph.end !== undefined && !ph.end.failure && !ph.end.closeError && ph.end.workerErrors.length === 0;
      for (const id of ph.producers) {
        const d = this.done.get(id);
        const ack = this.acks.get(id) ?? { count: 0, hash: 0, lastSeq: 0 };
        if (d && clean && !d.appendError) out.set(id, { ack, appendedMax: d.appended, mustHave: d.appended });
        else out.set(id, { ack, appendedMax: d ? d.appendedMax : Infinity });
      }
    }
    return out;
  }

  latency(): { unit: 'ms'; samples: number; mean: number; p50: number; p90: number; p99: number; p999: number; max: number } {
    const h = newHistogram();
    for (const b64 of this.hists.values()) h.add(hdr.decodeFromCompressedBase64(b64));
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      unit: 'ms',
      samples: h.totalCount,
      mean: h.totalCount ? ms(h.mean) : 0,
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(h.maxValue),
    };
  }

  /** Throughput over every phase, from the writers' own counters. */
  throughput() {
    let ms = 0;
    const sum = { entries: 0, payloadBytes: 0, fileBytes: 0, fsyncs: 0, batches: 0, ringFullWaits: 0, segments: 0 };
    for (const ph of this.phases) {
      if (!ph.last) continue;
      ms += ph.last.t;
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += ph.last.stats[k];
    }
    const s = ms / 1000;
    return {
      seconds: Math.round(s * 1000) / 1000,
      ...sum,
      entriesPerSec: s > 0 ? Math.round(sum.entries / s) : 0,
      mbPerSec: s > 0 ? Math.round((sum.payloadBytes / 1e6 / s) * 100) / 100 : 0,
      meanBatchEntries: sum.batches ? Math.round((sum.entries / sum.batches) * 10) / 10 : 0,
    };
  }

  /** Producers of a phase that ended without a 'done' (a thread that died), or that reported a hang. */
  problemsOf(ph: Phase): string[] {
    const out: string[] = [];
    for (const id of ph.producers) {
      const d = this.done.get(id);
      if (!d) out.push(`producer ${id} never finished`);
      else if (d.hung > 0) out.push(`producer ${id}: ${d.hung} durable() call(s) never settled (hang)`);
    }
    return out;
  }
}

export function describeError(e: ErrorInfo | undefined): string {
  if (!e) return 'none';
  return `${e.name}${e.code ? ` [${e.code}]` : ''}${e.causeCode ? ` (cause ${e.causeCode})` : ''}: ${e.message}`;
}
