/**
 * The proof after every run: re-read the whole log (readLog, all shards merged by sequence number)
 * and check it against each producer's compact digest.
 *
 * For every producer: every acknowledged entry (indexes 0 .. ack.count-1) is present exactly once,
 * in the producer's order, byte for byte as regenerated from (seed, producer, index); the running
 * CRC-32C over those payloads equals the producer's, and the last one carries the sequence number
 * append() returned. Entries past the ack point may be missing (never acknowledged), but any that is
 * present must be byte-exact, in order, and one the producer really appended (index < appendedMax).
 * After a clean close nothing may be missing at all (`exact`). Sequence numbers must rise strictly.
 */
import { crc32cUpdate } from '@shardlog/workers';
import { readLogSync, type LogEntry } from '@shardlog/core';
import { errorInfo, type AckPoint, type ErrorInfo } from './messages.js';
import type { Payloads } from './payload.js';

export interface ProducerExpectation {
  ack: AckPoint;
  /** Entries the producer may have put in the log; Infinity when unknown (a killed child). */
  appendedMax: number;
  /** Entries that must all be present (a clean close); defaults to ack.count. */
  mustHave?: number;
}

export interface VerifyResult {
  ok: boolean;
  entriesRead: number;
  bytesRead: number;
  producers: number;
  /** Acknowledged entries over all producers, and how many of them were found. */
  acknowledged: number;
  acknowledgedPresent: number;
  /** Entries found past their producer's ack point (appended, never acknowledged, durable anyway). */
  unacknowledgedPresent: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  corrupt: number;
  /** Entries no producer appended (unknown producer, or an index past what it appended). */
  phantom: number;
  hashMismatches: number;
  seqErrors: number;
  /** The reader itself refused the log (CorruptLogError and the like). */
  readError?: ErrorInfo;
  /** The first problems, in words. */
  problems: string[];
}

const MAX_PROBLEMS = 20;

interface State {
  exp: ProducerExpectation;
  mustHave: number;
  next: number;
  /** Distinct indexes below mustHave seen. */
  seenRequired: number;
  /** Indexes skipped over (may show up later, out of order). */
  skipped: Set<number>;
  hash: number;
  hashNext: number;
  lastSeqAt: number;
}

export function verifyLog(dir: string, gen: Payloads, expect: Map<number, ProducerExpectation>): VerifyResult {
  const r = emptyResult(expect.size);
  const problem = (s: string) => {
    if (r.problems.length < MAX_PROBLEMS) r.problems.push(s);
  };
  const states = new Map<number, State>();
  for (const [id, exp] of expect) {
    states.set(id, { exp, mustHave: Math.max(exp.ack.count, exp.mustHave ?? 0), next: 0, seenRequired: 0, skipped: new Set(), hash: 0, hashNext: 0, lastSeqAt: 0 });
  }
  let prevSeq = -1;
  try {
    for (const e of readLogSync({ dir })) {
      r.entriesRead++;
      r.bytesRead += e.data.length;
      if (e.seq <= prevSeq) {
        r.seqErrors++;
        problem(`sequence numbers do not rise: ${e.seq} (shard ${e.shard}) after ${prevSeq}`);
      }
      prevSeq = e.seq;
      checkEntry(r, states, gen.check(e.data, e.isText), e, problem);
    }
  } catch (e) {
    r.readError = errorInfo(e);
    problem(`reading the log failed: ${r.readError.message}${r.readError.code ? ` [${r.readError.code}]` : ''}`);
  }
  for (const [id, st] of states) checkProducer(r, id, st, problem);
  r.ok = !r.readError && r.lost + r.duplicates + r.outOfOrder + r.corrupt + r.phantom + r.hashMismatches + r.seqErrors === 0;
  return r;
}

function emptyResult(producers: number): VerifyResult {
  return {
    ok: false,
    entriesRead: 0,
    bytesRead: 0,
    producers,
    acknowledged: 0,
    acknowledgedPresent: 0,
    unacknowledgedPresent: 0,
    lost: 0,
    duplicates: 0,
    outOfOrder: 0,
    corrupt: 0,
    phantom: 0,
    hashMismatches: 0,
    seqErrors: 0,
    problems: [],
  };
}

type Decoded = ReturnType<Payloads['check']>;

/** One entry read back: whose, which index, and what that says (in order, duplicate, out of order, phantom). */
function checkEntry(r: VerifyResult, states: Map<number, State>, d: Decoded, e: LogEntry, problem: (s: string) => void): void {
  const st = states.get(d.producer);
  if (d.error) {
    r.corrupt++;
    problem(`seq ${e.seq} (shard ${e.shard}): ${d.error}`);
    return;
  }
  if (!st || d.index >= st.exp.appendedMax) {
    r.phantom++;
    problem(`seq ${e.seq} (shard ${e.shard}): producer ${d.producer} entry ${d.index} was never appended`);
    return;
  }
  const i = d.index;
  if (i < st.next) {
    if (st.skipped.delete(i)) {
      r.outOfOrder++;
      problem(`seq ${e.seq}: producer ${d.producer} entry ${i} comes after its entry ${st.next - 1}`);
      if (i < st.mustHave) st.seenRequired++;
    } else {
      r.duplicates++;
      problem(`seq ${e.seq}: producer ${d.producer} entry ${i} is there twice`);
    }
    return;
  }
  if (i > st.next) {
    for (let k = st.next; k < i && st.skipped.size < 1_000_000; k++) st.skipped.add(k);
  }
  st.next = i + 1;
  if (i < st.mustHave) st.seenRequired++;
  if (i >= st.exp.ack.count) r.unacknowledgedPresent++;
  if (i === st.hashNext && i < st.exp.ack.count) {
    st.hash = crc32cUpdate(st.hash, e.data, 0, e.data.length);
    st.hashNext++;
    if (st.hashNext === st.exp.ack.count) st.lastSeqAt = e.seq;
  }
}

/** After the read: a producer's missing entries, or the hash and last seq of its acknowledged prefix. */
function checkProducer(r: VerifyResult, id: number, st: State, problem: (s: string) => void): void {
  r.acknowledged += st.exp.ack.count;
  const missing = st.mustHave - st.seenRequired;
  r.acknowledgedPresent += Math.min(st.seenRequired, st.exp.ack.count);
  if (missing > 0) {
    r.lost += missing;
    const first = firstMissing(st);
    problem(`producer ${id}: ${missing} of its ${st.mustHave} ${st.mustHave === st.exp.ack.count ? 'acknowledged' : 'appended'} entries are missing${first >= 0 ? ` (the first is entry ${first})` : ''}`);
  } else if (st.exp.ack.count > 0) {
    if (st.hashNext !== st.exp.ack.count || st.hash !== st.exp.ack.hash) {
      r.hashMismatches++;
      problem(`producer ${id}: running hash over its ${st.exp.ack.count} acknowledged entries differs`);
    } else if (st.lastSeqAt !== st.exp.ack.lastSeq) {
      r.seqErrors++;
      problem(`producer ${id}: its entry ${st.exp.ack.count - 1} has seq ${st.lastSeqAt}, append() returned ${st.exp.ack.lastSeq}`);
    }
  }
}

function firstMissing(st: State): number {
  let first = -1;
  for (const k of st.skipped) if (k < st.mustHave && (first < 0 || k < first)) first = k;
  if (first < 0 && st.next < st.mustHave) first = st.next;
  return first;
}
