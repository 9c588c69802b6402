/**
 * verifyShipped(): compare a log with what was shipped of it, entry by entry (seq, shard, text or
 * bytes, every byte). Each shard's subject must hold exactly the log's entries up to its last
 * shipped seq, once each, in order. Entries after that are not shipped yet (counted, not a
 * difference); entries only in the stream below a shard's first remaining segment were removed from
 * the log by retention after shipping (counted, not a difference).
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { readLog, type EncryptionOptions, type LogEntry } from '@shardlog/core';
import { InvalidArgumentError, listSegments, readManifest } from '@shardlog/workers';
import { lastShipped, type NatsOptions } from './nats.js';
import { readJetStream } from './read.js';
import { ShipError } from './errors.js';

export interface VerifyShippedOptions {
  dir: string;
  servers: string | string[];
  stream: string;
  subjectPrefix?: string;
  /** More NATS connection options (credentials, tls...). */
  nats?: NatsOptions;
  /** Differences to list at most (all are counted). Default 20. */
  maxListed?: number;
  /** An encrypted log: its keys. */
  encryption?: EncryptionOptions;
}

export interface ShipDifference {
  seq: number;
  shard: number;
  problem: string;
}

export interface VerifyShippedReport {
  ok: boolean;
  /** Entries found in both, identical. */
  matched: number;
  /** Log entries after their shard's last shipped seq. */
  notYetShipped: number;
  /** Stream entries below their shard's first remaining log segment. */
  retired: number;
  differences: number;
  listed: ShipDifference[];
  /** Per shard, the last seq the stream holds. */
  shipped: number[];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

export async function verifyShipped(o: VerifyShippedOptions): Promise<VerifyShippedReport> {
  const prefix = o.subjectPrefix ?? 'shardlog';
  const m = readManifest(o.dir);
  if (!m) throw new InvalidArgumentError(`no log at ${o.dir}`);
  if (!m.id) throw new ShipError('ERR_SHARDLOG_SHIP_NO_LOG_ID', `log ${o.dir} has no id in its shardlog.json: it cannot have been shipped`);
  const nc = await connect({ name: 'shardlog-verify', ...o.nats, servers: o.servers });
  const maxListed = o.maxListed ?? 20;
  const r: VerifyShippedReport = { ok: true, matched: 0, notYetShipped: 0, retired: 0, differences: 0, listed: [], shipped: [] };
  const diff = (seq: number, shard: number, problem: string) => {
    r.differences++;
    if (r.listed.length < maxListed) r.listed.push({ seq, shard, problem });
  };
  try {
    const jsm = await jetstreamManager(nc);
    const n = { nc, jsm } as Parameters<typeof lastShipped>[0];
    for (let s = 0; s < m.shards; s++) r.shipped.push((await lastShipped(n, o.stream, `${prefix}.${s}`, m.id)).seq);
    const firstKept = Array.from({ length: m.shards }, (_, s) => listSegments(o.dir, s, 'framed')[0]?.firstSeq ?? 0);
    const logIt = readLog({ dir: o.dir, encryption: o.encryption })[Symbol.asyncIterator]();
    const strIt = readJetStream({ servers: o.servers, stream: o.stream, subjectPrefix: prefix, connection: nc, logId: m.id })[Symbol.asyncIterator]();
    let a: LogEntry | undefined = (await logIt.next()).value;
    let b: LogEntry | undefined = (await strIt.next()).value;
    let lastStream = 0;
    const nextB = async () => {
      lastStream = b!.seq;
      b = (await strIt.next()).value;
      if (b && b.seq <= lastStream) {
        diff(b.seq, b.shard, b.seq === lastStream ? 'in the stream twice' : `out of order in the stream (after ${lastStream})`);
        await nextB();
      }
    };
    while (a || b) {
      if (a && (!b || a.seq < b.seq)) {
        if (a.seq > r.shipped[a.shard]) r.notYetShipped++;
        else diff(a.seq, a.shard, 'in the log, missing from the stream');
        a = (await logIt.next()).value;
      } else if (b && (!a || b.seq < a.seq)) {
        if (b.seq < firstKept[b.shard]) r.retired++;
        else diff(b.seq, b.shard, 'in the stream, not in the log');
        await nextB();
      } else if (a && b) {
        if (a.shard !== b.shard) diff(a.seq, a.shard, `in shard ${a.shard} of the log, on the subject of shard ${b.shard}`);
        else if (a.isText !== b.isText) diff(a.seq, a.shard, `appended as ${a.isText ? 'text' : 'bytes'}, shipped as ${b.isText ? 'text' : 'bytes'}`);
        else if (!sameBytes(a.data, b.data)) diff(a.seq, a.shard, `bytes differ (${a.data.length} in the log, ${b.data.length} in the stream)`);
        else r.matched++;
        a = (await logIt.next()).value;
        await nextB();
      }
    }
  } finally {
    await nc.close().catch(() => {});
  }
  r.ok = r.differences === 0;
  return r;
}
