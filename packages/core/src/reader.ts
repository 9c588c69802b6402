/**
 * Readers: every valid record of a framed log, all shards merged into one order by sequence number.
 *
 * Each shard's records are in sequence order on disk (producers take the sequence number under the
 * same lock that reserves ring space), so a k-way merge by seq gives the exact global order. A shard
 * is read segment by segment with a SegmentScanner (bounded chunks); a record is only yielded after
 * its CRC checks. Reading stops quietly at a torn tail of a shard's last segment, and at the end a
 * live writer has not yet written (a record that looks bad is read again before it is called
 * corrupt); a bad record anywhere else is a CorruptLogError naming the file and offset.
 */
import * as fs from 'node:fs';
import { chainBreak, CorruptLogError, InvalidArgumentError, listSegments, listShardDirs, readManifest, resolveEncryption, SegmentScanner, TYPE_UTF8, type EncryptionOptions, type KeyRing, type SegmentRef } from '@shardlog/workers';

export interface LogEntry {
  seq: number;
  shard: number;
  /** The entry's bytes (a view; copy it if you keep it past the next chunk). */
  data: Uint8Array;
  /** True if the entry was appended as a string. */
  isText: boolean;
  /** The entry decoded as UTF-8. */
  text(): string;
}

export interface ReadOptions {
  dir: string;
  /** First sequence number to return (default: the oldest). */
  fromSeq?: number;
  /** Only these shards (default: all). */
  shards?: number[];
  /** Read chunk size in bytes (default 1 MiB). */
  chunkBytes?: number;
  /** An encrypted log: its keys (`keyId` not needed to read). A segment whose key is missing or wrong is a KeyError. */
  encryption?: EncryptionOptions;
}

/** The keys a reader opens encrypted segments with, and the log id they are bound to. */
export interface ReadKeys {
  keys: KeyRing;
  logId: string;
}

/** A private copy of reader keys (for a reader that may outlive the log that handed them out). */
export function copyReadKeys(k: ReadKeys): ReadKeys {
  return { logId: k.logId, keys: { keyId: undefined, keys: new Map([...k.keys.keys].map(([id, b]) => [id, Uint8Array.from(b)])) } };
}

/** Resolve a reader's `encryption` option against the log's manifest. */
export function readKeysOf(dir: string, encryption: EncryptionOptions | undefined): ReadKeys | undefined {
  if (encryption === undefined) return undefined;
  const keys = resolveEncryption(encryption, false);
  return { keys, logId: readManifest(dir)?.id ?? '' };
}

const decoder = new TextDecoder();

/** The entry readers and follow() yield. */
export class Rec implements LogEntry {
  constructor(
    readonly seq: number,
    readonly shard: number,
    readonly data: Uint8Array,
    readonly isText: boolean,
  ) {}
  text(): string {
    return decoder.decode(this.data);
  }
}

/** Yields the valid records of one shard from `fromSeq` on, in file order (which is seq order). */
export function* readShard(dir: string, shard: number, fromSeq = 0, chunkBytes = 1 << 20, keys?: ReadKeys): Generator<LogEntry> {
  const segs = listSegments(dir, shard, 'framed');
  // the last segment whose first seq is <= fromSeq holds it (every earlier one ends below it)
  let first = 0;
  for (let i = 0; i < segs.length; i++) if (segs[i].firstSeq <= fromSeq) first = i;
  // The highest seq of the segment read just before (-1: none, or it was removed meanwhile): each
  // header names the previous segment's highest seq, so a missing segment is caught, not skipped.
  const chain = { prevEnd: -1 };
  for (let i = first; i < segs.length; i++) {
    yield* readSegment(segs[i], i === segs.length - 1, fromSeq, chunkBytes, chain, keys);
  }
}

function* readSegment(seg: SegmentRef, isLast: boolean, fromSeq: number, chunkBytes: number, chain: { prevEnd: number }, keys?: ReadKeys): Generator<LogEntry> {
  const sc = new SegmentScanner(seg, { last: isLast, chunkBytes, keys: keys?.keys, logId: keys?.logId });
  try {
    const h = sc.header;
    if (!h) {
      chain.prevEnd = -1; // removed by retention meanwhile, or created and not yet written
      return;
    }
    const broken = chain.prevEnd >= 0 ? chainBreak(h.prevMaxSeq, chain.prevEnd) : undefined;
    if (broken) throw new CorruptLogError(seg.file, 0, broken);
    chain.prevEnd = h.prevMaxSeq;
    while (sc.next()) {
      const seq = sc.seq;
      if (seq > chain.prevEnd) chain.prevEnd = seq;
      if (seq >= fromSeq) yield new Rec(seq, seg.shard, sc.payload(), sc.type === TYPE_UTF8);
    }
    const v = sc.verdict!;
    if (v.kind === 'corrupt') throw new CorruptLogError(seg.file, v.offset, v.reason.message);
  } finally {
    sc.close();
  }
}

/**
 * Every valid entry of a framed log, in sequence order across all shards.
 * Works on a closed log and on one being written (it reads what is on disk now).
 */
export async function* readLog(options: ReadOptions): AsyncGenerator<LogEntry> {
  yield* readLogSync(options);
}

/** The same as readLog, synchronously. */
export function* readLogSync(options: ReadOptions): Generator<LogEntry> {
  if (!options || typeof options.dir !== 'string') throw new InvalidArgumentError('readLog takes { dir }');
  const fromSeq = options.fromSeq ?? 0;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) throw new InvalidArgumentError(`fromSeq must be a non-negative integer, got ${String(fromSeq)}`);
  const manifest = readManifest(options.dir);
  if (manifest && manifest.format !== 'framed') throw new InvalidArgumentError(`log ${options.dir} is in '${manifest.format}' format: read its .log files as text`);
  if (!fs.existsSync(options.dir)) throw new InvalidArgumentError(`no log at ${options.dir}`);
  const shardIds = options.shards ?? listShardDirs(options.dir);
  const keys = readKeysOf(options.dir, options.encryption);
  const its = shardIds.map((s) => readShard(options.dir, s, fromSeq, options.chunkBytes, keys));
  const heads: (LogEntry | undefined)[] = its.map((it) => {
    const r = it.next();
    return r.done ? undefined : r.value;
  });
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h && (best < 0 || h.seq < heads[best]!.seq)) best = i;
    }
    if (best < 0) return;
    const e = heads[best]!;
    const r = its[best].next();
    heads[best] = r.done ? undefined : r.value;
    yield e;
  }
}

