/**
 * The message format: one NATS message carries one or more entries of one shard, in seq order.
 *
 * Body (all integers unsigned LEB128 varints, at most 8 bytes for a seq below 2^53):
 *   byte 0        version, 1
 *   varint        count: entries in the message (>= 1)
 *   per entry:
 *     varint      seq delta: the entry's seq minus the previous entry's seq (the first: minus 0)
 *     varint      length * 2 + (1 if the entry was appended as text, else 0)
 *     bytes       the entry's bytes
 * A 100-byte entry costs 100 bytes + 3 or 4 (delta 1-2 bytes in a busy shard, length 2 bytes).
 *
 * Headers: `Nats-Msg-Id: <log id>:<first seq>-<last seq>` (`<log id>:<seq>` for one entry), the
 * dedup id; the shipper reads the last message of a subject back through this id.
 */
import { ShipError } from './errors.js';

export const BATCH_VERSION = 1;

export interface ShipEntry {
  seq: number;
  isText: boolean;
  data: Uint8Array;
}

/** Bytes a varint of v takes. */
export function varintBytes(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function putVarint(b: Uint8Array, o: number, v: number): number {
  while (v >= 128) {
    b[o++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  b[o++] = v;
  return o;
}

/** Framing bytes an entry adds (given the previous entry's seq). */
export function entryOverhead(e: ShipEntry, prevSeq: number): number {
  return varintBytes(e.seq - prevSeq) + varintBytes(e.data.length * 2 + 1);
}

/** Encode entries[from, to) into one message body. */
export function encodeBatch(entries: ShipEntry[], from: number, to: number): Uint8Array {
  let size = 1 + varintBytes(to - from);
  let prev = 0;
  for (let i = from; i < to; i++) {
    size += entryOverhead(entries[i], prev) + entries[i].data.length;
    prev = entries[i].seq;
  }
  const b = new Uint8Array(size);
  b[0] = BATCH_VERSION;
  let o = putVarint(b, 1, to - from);
  prev = 0;
  for (let i = from; i < to; i++) {
    const e = entries[i];
    o = putVarint(b, o, e.seq - prev);
    o = putVarint(b, o, e.data.length * 2 + (e.isText ? 1 : 0));
    b.set(e.data, o);
    o += e.data.length;
    prev = e.seq;
  }
  return b;
}

/** Decode a message body; the entries' data are views into `b`. */
export function decodeBatch(b: Uint8Array, where = 'message'): ShipEntry[] {
  const bad = (why: string) => new ShipError('ERR_SHARDLOG_SHIP_BAD_MESSAGE', `${where} is not a shardlog batch: ${why}`);
  let o = 0;
  const get = (): number => {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 8; k++) {
      if (o >= b.length) throw bad('it ends inside a number');
      const x = b[o++];
      v += (x & 127) * mul;
      if (x < 128) return v;
      mul *= 128;
    }
    throw bad('a number is too long');
  };
  if (b.length < 2 || b[0] !== BATCH_VERSION) throw bad(`version byte ${b[0]} (this build reads ${BATCH_VERSION})`);
  o = 1;
  const count = get();
  const out: ShipEntry[] = [];
  let seq = 0;
  for (let i = 0; i < count; i++) {
    const d = get();
    if (d < 1 && i > 0) throw bad('seqs do not increase');
    seq += d;
    const lt = get();
    const len = Math.floor(lt / 2);
    if (o + len > b.length) throw bad('an entry runs past the end');
    out.push({ seq, isText: lt % 2 === 1, data: b.subarray(o, o + len) });
    o += len;
  }
  if (o !== b.length || count === 0) throw bad(count === 0 ? 'no entries' : 'bytes after the last entry');
  return out;
}

/** The dedup id of a message holding seqs first..last of the log `logId`. */
export function msgId(logId: string, first: number, last: number): string {
  return first === last ? `${logId}:${first}` : `${logId}:${first}-${last}`;
}

/** Parse a dedup id; undefined if it is not one of ours. */
export function parseMsgId(id: string | undefined): { logId: string; first: number; last: number } | undefined {
  if (!id) return undefined;
  const m = /^(.+):(\d+)(?:-(\d+))?$/.exec(id);
  if (!m) return undefined;
  const first = Number(m[2]);
  const last = m[3] === undefined ? first : Number(m[3]);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) return undefined;
  return { logId: m[1], first, last };
}
