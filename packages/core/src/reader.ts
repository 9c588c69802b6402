/**
 * Readers: every valid record of a framed log, all shards merged into one order by sequence number.
 *
 * Each shard's records are in sequence order on disk (producers take the sequence number under the
 * same lock that reserves ring space), so a k-way merge by seq gives the exact global order. A shard
 * is read segment by segment with a SegmentScanner (bounded chunks); a record is only yielded after
 * its CRC checks. Reading stops quietly at a torn tail of a shard's last segment, and at the end a
 * live writer has not yet written (a record that looks bad is read again before it is called
 * corrupt); a bad record anywhere else is a CorruptLogError naming the file and offset, unless the
 * first valid record after it is at or below fromSeq (then the bad bytes hold nothing asked for), or
 * the reader opted in with skipCorrupt: then it goes on at the next valid record, as recovery does
 * (SegmentScanner.resume()), and reports the region it skipped (onSkip).
 *
 * Beside a live writer with several shards, a read is a snapshot of each shard's files taken one
 * after the other: it can yield seq n+1 while seq n (another shard's) is not on disk yet. follow()
 * is the gapless tail.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  chainBreak,
  CorruptLogError,
  InvalidArgumentError,
  listSegments,
  listShardDirs,
  LogOpenError,
  readManifest,
  resolveEncryption,
  SegmentScanner,
  shardDirName,
  TYPE_UTF8,
  type EncryptionOptions,
  type KeyRing,
  type Manifest,
  type ScanVerdict,
  type SegmentRef,
} from '@shardlog/workers';
import { missingShardDirs, missingShardError } from './log-dir.js';

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
  /**
   * Read past corrupt regions (default false: one is a CorruptLogError). A bad record or frame with
   * valid ones after it is skipped, and reading goes on at the next valid one, as openLog's recovery
   * does with skipCorrupt; so is a missing segment. Each region skipped is passed to onSkip.
   */
  skipCorrupt?: boolean;
  /** With skipCorrupt: called with each corrupt region skipped, before the entries after it. */
  onSkip?: (region: SkippedRegion) => void;
}

/** A corrupt region a reader skipped (skipCorrupt): where, how many bytes, and why. */
export interface SkippedRegion {
  shard: number;
  file: string;
  offset: number;
  /** Bytes skipped (0 for a frame out of its chain, read on from, and for a missing segment). */
  bytes: number;
  reason: string;
}

/** Where a reader that skips corruption reports it. */
export type SkipCorrupt = (region: SkippedRegion) => void;

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

/**
 * Yields the valid records of one shard from `fromSeq` on, in file order (which is seq order). With
 * `skip`, corrupt regions are skipped and reported to it instead of thrown (ReadOptions.skipCorrupt).
 */
export function* readShard(dir: string, shard: number, fromSeq = 0, chunkBytes = 1 << 20, keys?: ReadKeys, skip?: SkipCorrupt): Generator<LogEntry> {
  const segs = listSegments(dir, shard, 'framed');
  // the last segment whose first seq is <= fromSeq holds it (every earlier one ends below it)
  let first = 0;
  for (let i = 0; i < segs.length; i++) if (segs[i].firstSeq <= fromSeq) first = i;
  // The highest seq of the segment read just before (-1: none, or it was removed meanwhile): each
  // header names the previous segment's highest seq, so a missing segment is caught, not skipped.
  const chain = { prevEnd: -1 };
  for (let i = first; i < segs.length; i++) {
    yield* readSegment(segs[i], i === segs.length - 1, fromSeq, chunkBytes, chain, keys, skip);
  }
}

function* readSegment(seg: SegmentRef, isLast: boolean, fromSeq: number, chunkBytes: number, chain: { prevEnd: number }, keys?: ReadKeys, skip?: SkipCorrupt): Generator<LogEntry> {
  const sc = new SegmentScanner(seg, { last: isLast, chunkBytes, keys: keys?.keys, logId: keys?.logId });
  try {
    const h = sc.header;
    if (!h) {
      chain.prevEnd = -1; // removed by retention meanwhile, or created and not yet written
      return;
    }
    const broken = chain.prevEnd >= 0 ? chainBreak(h.prevMaxSeq, chain.prevEnd) : undefined;
    if (broken) {
      if (!skip) throw new CorruptLogError(seg.file, 0, broken);
      skip({ shard: seg.shard, file: seg.file, offset: 0, bytes: 0, reason: broken });
    }
    chain.prevEnd = h.prevMaxSeq;
    for (;;) {
      while (sc.next()) {
        const seq = sc.seq;
        if (seq > chain.prevEnd) chain.prevEnd = seq;
        if (seq >= fromSeq) yield new Rec(seq, seg.shard, sc.payload(), sc.type === TYPE_UTF8);
      }
      const v = sc.verdict!;
      if (v.kind !== 'corrupt') return;
      if (!mayPass(sc, v, fromSeq, keys, skip)) throw new CorruptLogError(seg.file, v.offset, v.reason.message);
      sc.resume();
    }
  } finally {
    sc.close();
  }
}

/** A scanner's 'corrupt' verdict. */
export type Corrupt = Extract<ScanVerdict, { kind: 'corrupt' }>;

/**
 * A reader stands on corruption `v` (sc's 'corrupt' verdict): may it read on past it (the caller
 * then calls sc.resume())? Yes if the bad bytes hold only seqs below fromSeq (the first valid record
 * after them is at or below it), or if `skip` takes the region (reported to it); no: an error.
 */
export function mayPass(sc: SegmentScanner, v: Corrupt, fromSeq: number, keys: ReadKeys | undefined, skip: SkipCorrupt | undefined): boolean {
  if (firstSeqAfter(sc, v, keys) <= fromSeq) return true;
  skip?.({ shard: sc.shard, file: sc.file, offset: v.offset, bytes: v.bytes, reason: v.reason.message });
  return skip !== undefined;
}

/** The seq of the first valid record after corruption `v`, read by a scanner of its own (sc stays put); Infinity if none. */
function firstSeqAfter(sc: SegmentScanner, v: Corrupt, keys: ReadKeys | undefined): number {
  if (v.resumeAt < 0) return Infinity;
  const peek = new SegmentScanner({ file: sc.file, shard: sc.shard, firstSeq: sc.firstSeq }, { last: sc.last, chunkBytes: 64 << 10, payloads: false, keys: keys?.keys, logId: keys?.logId });
  try {
    if (!peek.header) return Infinity;
    peek.seek(v.resumeAt); // (past damage the frame chain starts afresh, as after resume())
    return peek.next() ? peek.seq : Infinity;
  } finally {
    peek.close();
  }
}

/**
 * Every valid entry of a framed log, in sequence order across all shards.
 * Works on a closed log and on one being written (it reads what is on disk now: with several
 * shards a read can yield seq n+1 while seq n is not yet on disk; see README).
 */
export async function* readLog(options: ReadOptions): AsyncGenerator<LogEntry> {
  yield* readLogSync(options);
}

/** The same as readLog, synchronously. */
export function* readLogSync(options: ReadOptions): Generator<LogEntry> {
  const { fromSeq, chunkBytes, skip } = checkReadOptions(options);
  const manifest = logManifest(options.dir);
  if (manifest && manifest.format !== 'framed') throw new InvalidArgumentError(`log ${options.dir} is in '${manifest.format}' format: read its .log files as text`);
  // a directory with neither a manifest nor a shard directory is not a log (a mistyped path): say so, as verifyLog does
  if (!manifest && listShardDirs(options.dir).length === 0) throw new InvalidArgumentError(`no log at ${options.dir} (no shardlog.json, no shard directories)`);
  const shardIds = checkShards(options.shards, options.dir, manifest);
  // a shard directory deleted from a log with entries: corruption (what it held is gone), as a missing segment
  const missing = manifest ? missingShardDirs(options.dir, manifest.shards).filter((s) => options.shards === undefined || shardIds.includes(s)) : [];
  if (missing.length > 0) {
    const err = missingShardError(options.dir, manifest!.shards, missing);
    if (!skip) throw err;
    for (const s of missing) skip({ shard: s, file: path.join(options.dir, shardDirName(s)), offset: 0, bytes: 0, reason: 'the shard directory is missing' });
  }
  const keys = readKeysOf(options.dir, options.encryption);
  const its = shardIds.map((s) => readShard(options.dir, s, fromSeq, chunkBytes, keys, skip));
  try {
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
      yield heads[best]!;
      // read on only now: a region skipped after it is reported after it was taken
      const r = its[best].next();
      heads[best] = r.done ? undefined : r.value;
    }
  } finally {
    for (const it of its) it.return(undefined); // a reader that stops early: close the shards' files
  }
}

const READ_OPTIONS = new Set(['dir', 'fromSeq', 'shards', 'chunkBytes', 'encryption', 'skipCorrupt', 'onSkip']);

/** readLog's options, checked (an unknown key or a wrong value is an InvalidArgumentError). */
function checkReadOptions(o: ReadOptions): { fromSeq: number; chunkBytes: number | undefined; skip: SkipCorrupt | undefined } {
  if (o === null || typeof o !== 'object' || typeof o.dir !== 'string') throw new InvalidArgumentError('readLog takes { dir }');
  for (const k of Object.keys(o)) if (!READ_OPTIONS.has(k)) throw new InvalidArgumentError(`unknown readLog option ${k}`);
  const fromSeq = o.fromSeq ?? 0;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) throw new InvalidArgumentError(`fromSeq must be a non-negative integer, got ${String(fromSeq)}`);
  const chunkBytes = o.chunkBytes;
  if (chunkBytes !== undefined && (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1)) throw new InvalidArgumentError(`chunkBytes must be a positive integer, got ${String(chunkBytes)}`);
  return { fromSeq, chunkBytes, skip: skipOption(o.skipCorrupt, o.onSkip) };
}

/** The skipCorrupt and onSkip options (of readLog and follow), checked: the callback to skip with, or undefined. */
export function skipOption(skipCorrupt: unknown, onSkip: unknown): SkipCorrupt | undefined {
  if (skipCorrupt !== undefined && typeof skipCorrupt !== 'boolean') throw new InvalidArgumentError(`skipCorrupt must be true or false, got ${String(skipCorrupt)}`);
  if (onSkip !== undefined && typeof onSkip !== 'function') throw new InvalidArgumentError(`onSkip must be a function, got ${typeof onSkip}`);
  if (onSkip !== undefined && !skipCorrupt) throw new InvalidArgumentError('onSkip is only called with skipCorrupt: true');
  return skipCorrupt ? ((onSkip as SkipCorrupt | undefined) ?? (() => {})) : undefined;
}

/**
 * The manifest of the log in `dir` (undefined: none). A missing `dir` is "no log" (InvalidArgumentError);
 * one that is not a directory, or cannot be read, is a LogOpenError (never a raw system error).
 */
function logManifest(dir: string): Manifest | undefined {
  try {
    if (!fs.statSync(dir).isDirectory()) throw new LogOpenError(dir, 'not a directory');
    return readManifest(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !fs.existsSync(dir)) throw new InvalidArgumentError(`no log at ${dir}`);
    if (code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE') throw new InvalidArgumentError(`dir: ${(e as Error).message}`, { cause: e });
    if (typeof code === 'string' && !code.startsWith('ERR_SHARDLOG')) throw new LogOpenError(dir, (e as Error).message, { cause: e });
    throw e;
  }
}

/** The shards to read: all of the log's (default), or the ones asked for, each a shard of the log, once. */
function checkShards(shards: unknown, dir: string, manifest: Manifest | undefined): number[] {
  const present = listShardDirs(dir);
  if (shards === undefined) return present;
  if (!Array.isArray(shards)) throw new InvalidArgumentError(`shards must be an array of shard numbers, got ${typeof shards === 'string' ? JSON.stringify(shards) : String(shards)}`);
  const count = Math.max(manifest?.shards ?? 0, ...present.map((s) => s + 1));
  const seen = new Set<number>();
  for (const s of shards as unknown[]) {
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s >= count) {
      throw new InvalidArgumentError(`shards: ${typeof s === 'string' ? JSON.stringify(s) : String(s)} is not a shard of ${dir} (${count === 0 ? 'it has none' : `it has shards 0 to ${count - 1}`})`);
    }
    if (seen.has(s)) throw new InvalidArgumentError(`shards: shard ${s} is listed twice`);
    seen.add(s);
  }
  return shards as number[];
}
