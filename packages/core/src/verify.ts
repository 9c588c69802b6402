/**
 * verifyLog: check every record of a framed log on disk, one piscina task per segment, in parallel.
 * Read-only and lock-free: it can run on a closed log or beside a live writer (then the segment
 * being written may show a torn tail, which is not an error, and a segment that retention removes
 * during the run is counted in `removed`, not an error). See docs/FORMAT.md for the rules.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkChain,
  CorruptLogError,
  InvalidArgumentError,
  LogFormatError,
  LogOpenError,
  listSegments,
  readSegmentHeader,
  listShardDirs,
  readManifest,
  shardDirName,
  verifySegments,
  type SegmentCheck,
  type SegmentTask,
  type EncryptionOptions,
  KeyError,
  zeroKeyRing,
} from '@shardlog/workers';
import { missingShardDirs } from './log-dir.js';
import { readKeysOf, type ReadKeys } from './reader.js';

export interface VerifyOptions {
  dir: string;
  /** Pool threads (default: the CPU count, at most one per segment); 0 checks in the calling thread. */
  threads?: number;
  /** An encrypted log: its keys. Without them every encrypted segment is reported as an error of kind 'key'. */
  encryption?: EncryptionOptions;
}

export interface VerifyError {
  file: string;
  shard: number;
  /** Byte offset in the file where the bad region starts. */
  offset: number;
  reason: string;
}

export interface VerifyReport {
  dir: string;
  /** True when no segment has an error (a torn tail in a shard's last segment is not one). */
  ok: boolean;
  shards: number;
  /** Segments checked. */
  segments: number;
  /** Segments listed at the start that were gone when their turn came (retention): skipped, not errors. */
  removed: number;
  /** Valid records. */
  records: number;
  /** Bytes of all segment files. */
  bytes: number;
  /** Highest seq found (0 if none). */
  lastSeq: number;
  errors: VerifyError[];
  /** Torn tails of last segments: what recovery will cut on the next open. */
  torn: { file: string; shard: number; offset: number; bytes: number; reason: string }[];
  /** Per segment, oldest first within each shard. */
  files: SegmentCheck[];
}

/** The segments of every shard as verify tasks, oldest first. */
export function segmentTasks(dir: string, keys?: ReadKeys): { shards: number[]; tasks: SegmentTask[] } {
  const k = keys ? { keys: Object.fromEntries(keys.keys.keys), logId: keys.logId } : {};
  const shards = listShardDirs(dir);
  const tasks: SegmentTask[] = [];
  for (const s of shards) {
    const segs = listSegments(dir, s, 'framed');
    segs.forEach((g, i) => tasks.push({ file: g.file, shard: s, firstSeq: g.firstSeq, isLast: i === segs.length - 1, ...k }));
  }
  return { shards, tasks };
}

/** Verify every segment of a framed log. Rejects only if `dir` is not a framed log; corruption is in the report. */
export async function verifyLog(options: VerifyOptions): Promise<VerifyReport> {
  if (!options || typeof options.dir !== 'string') throw new InvalidArgumentError('verifyLog takes { dir }');
  const { dir } = options;
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 0)) {
    throw new InvalidArgumentError(`threads must be a non-negative integer, got ${String(options.threads)}`);
  }
  if (!fs.existsSync(dir)) throw new InvalidArgumentError(`no log at ${dir}`);
  if (!fs.statSync(dir).isDirectory()) throw new LogOpenError(dir, 'not a directory');
  const manifest = readManifest(dir);
  if (manifest && manifest.format !== 'framed') throw new InvalidArgumentError(`log ${dir} is in '${manifest.format}' format, which has no checksums to verify`);
  const keys = readKeysOf(dir, options.encryption);
  const { shards, tasks } = segmentTasks(dir, keys);
  if (!manifest && tasks.length === 0) throw new InvalidArgumentError(`no log at ${dir}`);
  let checked: SegmentCheck[];
  try {
    checked = await verifySegments(tasks, { threads: options.threads });
  } finally {
    zeroKeyRing(keys?.keys);
  }
  for (const s of shards) {
    const mine = checked.filter((f) => f.shard === s);
    // a segment that could not be opened (no key) has no seqs: the chain cannot be judged across it
    if (!mine.some((f) => f.errors.some((e) => e.kind === 'key'))) checkChain(mine);
  }
  const files = checked.filter((f) => !f.removed);
  const report: VerifyReport = {
    dir,
    ok: true,
    shards: manifest ? manifest.shards : shards.length,
    segments: files.length,
    removed: checked.length - files.length,
    records: 0,
    bytes: 0,
    lastSeq: 0,
    errors: [],
    torn: [],
    files,
  };
  for (const f of files) {
    report.records += f.records;
    report.bytes += f.bytes;
    if (f.maxSeq > report.lastSeq) report.lastSeq = f.maxSeq;
    for (const e of f.errors) report.errors.push({ file: f.file, shard: f.shard, offset: e.offset, reason: e.reason });
    if (f.torn) report.torn.push({ file: f.file, shard: f.shard, ...f.torn });
  }
  // a shard directory deleted from a log with entries: what it held is gone
  if (manifest) {
    for (const s of missingShardDirs(dir, manifest.shards)) report.errors.push({ file: path.join(dir, shardDirName(s)), shard: s, offset: 0, reason: 'the shard directory is missing: its entries are lost' });
  }
  report.ok = report.errors.length === 0;
  return report;
}

/** What openLog({ verify: 'all' }) adds to a shard's recovery report. */
export interface OpenVerifyResult {
  segments: number;
  records: number;
  skippedRegions: number;
  skippedBytes: number;
}

/**
 * openLog({ verify: 'all' }): check every segment but each shard's last (which recovery scans in
 * the writer thread) with the pool, before the writers start. A foreign or damaged header is a
 * LogFormatError; any other problem a CorruptLogError naming file and offset, unless skipCorrupt,
 * in which case it is counted in the shard's skippedRegions / skippedBytes.
 */
export async function verifyBeforeOpen(dir: string, shards: number, skipCorrupt: boolean, keys?: ReadKeys): Promise<OpenVerifyResult[]> {
  const k = keys ? { keys: Object.fromEntries(keys.keys.keys), logId: keys.logId } : {};
  const out: OpenVerifyResult[] = [];
  const tasks: SegmentTask[] = [];
  for (let s = 0; s < shards; s++) {
    out.push({ segments: 0, records: 0, skippedRegions: 0, skippedBytes: 0 });
    const segs = listSegments(dir, s, 'framed');
    // the last one is recovery's; it still serves as the chain's end
    segs.forEach((g, i) => tasks.push({ file: g.file, shard: s, firstSeq: g.firstSeq, isLast: i === segs.length - 1, ...k }));
  }
  const checked = tasks.filter((t) => !t.isLast);
  const results = await verifySegments(checked);
  for (let s = 0; s < shards; s++) {
    const mine = results.filter((r) => r.shard === s);
    const lastTask = tasks.find((t) => t.shard === s && t.isLast);
    // the last segment's header (records are recovery's) still closes the chain
    const tailHead = lastTask && mine.length > 0 ? headerOnly(lastTask) : undefined;
    const chain = tailHead ? [...mine, tailHead] : mine;
    checkChain(chain);
    for (const r of chain) {
      if (r !== tailHead) {
        out[s].segments++;
        out[s].records += r.records;
      }
      for (const e of r.errors) {
        if (e.kind === 'format') throw new LogFormatError(r.file, e.reason);
        if (e.kind === 'key') {
          const ke = new KeyError(e.keyId ?? '?', e.reason, r.file);
          ke.message = e.reason;
          throw ke;
        }
        if (!skipCorrupt) throw new CorruptLogError(r.file, e.offset, e.reason);
        out[s].skippedRegions++;
        out[s].skippedBytes += e.bytes;
      }
    }
  }
  return out;
}

/** A SegmentCheck with only the header's fields filled (records unknown), or undefined if it has none yet. */
function headerOnly(t: SegmentTask): SegmentCheck | undefined {
  try {
    const h = readSegmentHeader(t, true);
    if (typeof h === 'string') return undefined;
    return { file: t.file, shard: t.shard, firstSeq: t.firstSeq, bytes: 0, records: 0, minSeq: 0, maxSeq: 0, prevMaxSeq: h.prevMaxSeq, errors: [] };
  } catch {
    return undefined; // recovery reports it
  }
}
