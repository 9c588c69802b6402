/** `shardlog stats DIR`: per shard segments, bytes and seq range, read from the files (offline). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KeyError, listSegments, listShardDirs, LOCK_FILE, LogFormatError, scanLineSegment, verifySegment, type Format, type SegmentCheck } from '@shardlog/workers';
import { readKeysOf, type ReadKeys } from '@shardlog/core';
import { dirArg, parseOptions, requireLog, KEY_FILE_HELP, keyFileOption } from '../args.js';
import type { Command } from '../command.js';

export interface ShardFileStats {
  shard: number;
  segments: number;
  bytes: number;
  /** First seq of the oldest segment (from its name), 0 if none. */
  firstSeq: number;
  /**
   * Highest seq of a whole valid record (framed), or the last line's seq (lines); 0 if none; null for
   * a lines log with several shards (its files hold no seqs that tell).
   */
  lastSeq: number | null;
  /** Bytes at the end of the last segment that are not a whole valid record (a torn tail). */
  tornBytes: number;
}

/** A segment check of an encrypted segment whose key is missing or wrong: a KeyError, not a wrong seq. */
function checked(c: SegmentCheck): SegmentCheck {
  const k = c.errors.find((e) => e.kind === 'key');
  if (k) {
    const e = new KeyError(k.keyId ?? '?', k.reason, c.file);
    e.message = k.reason;
    throw e;
  }
  return c;
}

export function shardFileStats(dir: string, shard: number, format: Format, keys?: ReadKeys): ShardFileStats {
  const k = keys ? { keys: Object.fromEntries(keys.keys.keys), logId: keys.logId } : {};
  const segs = listSegments(dir, shard, format);
  const st: ShardFileStats = { shard, segments: segs.length, bytes: 0, firstSeq: segs[0]?.firstSeq ?? 0, lastSeq: 0, tornBytes: 0 };
  for (const s of segs) {
    const f = fs.statSync(s.file, { throwIfNoEntry: false }); // (removed meanwhile: 0)
    if (f && !f.isFile()) throw new LogFormatError(s.file, 'a segment name taken by something that is not a regular file');
    st.bytes += f?.size ?? 0;
  }
  const last = segs[segs.length - 1];
  if (!last) return st;
  if (format === 'framed') {
    const c = checked(verifySegment({ file: last.file, shard, firstSeq: last.firstSeq, isLast: true, ...k }));
    st.lastSeq = c.records > 0 ? c.maxSeq : Math.max(0, c.prevMaxSeq);
    if (c.records === 0 && c.prevMaxSeq < 0 && segs.length > 1) {
      // a last segment without a header yet: the one before it holds the shard's highest seq
      const p = segs[segs.length - 2];
      const b = checked(verifySegment({ file: p.file, shard, firstSeq: p.firstSeq, isLast: false, ...k }));
      st.lastSeq = b.records > 0 ? b.maxSeq : Math.max(0, b.prevMaxSeq);
    }
    st.tornBytes = c.torn?.bytes ?? 0;
  } else {
    const { lines, size, end } = scanLineSegment(last.file);
    st.lastSeq = lines > 0 ? last.firstSeq + lines - 1 : 0;
    st.tornBytes = size - end;
  }
  return st;
}

function lockHolder(dir: string): string {
  try {
    const pid = Number.parseInt(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'), 10);
    try {
      process.kill(pid, 0);
      return `open in process ${pid}`;
    } catch {
      return `stale lock of process ${pid} (not running)`;
    }
  } catch {
    return 'not open';
  }
}

export const statsCommand: Command = {
  name: 'stats',
  usage: 'stats DIR [--json] [--key-file F]',
  summary: 'per shard: segments, bytes, seq range (offline, from the files)',
  help: [
    'Usage: shardlog stats DIR [--json] [--key-file F]',
    '',
    'Read the log directory without opening the log (no lock, no recovery) and print, per shard,',
    "the segment count, bytes on disk, the first seq (oldest segment's name) and the last seq (the",
    "highest whole valid record of the last segment), plus any torn bytes at the last segment's end.",
    'For the counters of a running log use log.stats() in its process.',
    '',
    'Options:',
    '  --json       print as JSON',
    KEY_FILE_HELP,
    '  -h, --help   this help',
  ].join('\n'),
  async run(args) {
    const { values, positionals } = parseOptions({ args, options: { json: { type: 'boolean' }, 'key-file': { type: 'string' } }, allowPositionals: true });
    const dir = dirArg(positionals);
    const m = requireLog(dir);
    const format: Format = m?.format ?? 'framed';
    const keys = readKeysOf(dir, keyFileOption(values['key-file']));
    const ids = new Set(listShardDirs(dir));
    for (let s = 0; s < (m?.shards ?? 0); s++) ids.add(s);
    const shards = [...ids].sort((a, b) => a - b).map((s) => shardFileStats(dir, s, format, keys));
    const total = {
      segments: shards.reduce((a, s) => a + s.segments, 0),
      bytes: shards.reduce((a, s) => a + s.bytes, 0),
      firstSeq: Math.min(...shards.filter((s) => s.segments > 0).map((s) => s.firstSeq)),
      lastSeq: Math.max(0, ...shards.map((s) => s.lastSeq ?? 0)) as number | null,
    };
    if (!Number.isFinite(total.firstSeq)) total.firstSeq = 0;
    // A lines segment holds no seqs: its k-th line is its name plus k only while one shard takes every
    // seq. With several, a shard's lines hold seqs the others' do not, so the last seq is not in the files.
    const seqsUnknown = format === 'lines' && shards.length > 1;
    if (seqsUnknown) {
      for (const s of shards) s.lastSeq = null;
      total.lastSeq = null;
    }
    const lock = lockHolder(dir);
    if (values.json) {
      process.stdout.write(JSON.stringify({ dir, format, shards: m?.shards ?? shards.length, created: m?.created, lock, total, perShard: shards }, null, 2) + '\n');
      return 0;
    }
    const rows = [['shard', 'segments', 'bytes', 'first seq', 'last seq', 'torn bytes'], ...shards.map((s) => [s.shard, s.segments, s.bytes, s.firstSeq, s.lastSeq ?? '-', s.tornBytes].map(String))];
    rows.push(['all', String(total.segments), String(total.bytes), String(total.firstSeq), String(total.lastSeq ?? '-'), String(shards.reduce((a, s) => a + s.tornBytes, 0))]);
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const out = [`${dir}: ${format} format, ${m?.shards ?? shards.length} shards, ${lock}`, ...rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '))];
    if (seqsUnknown) out.push("(last seq '-': a lines log with several shards keeps no seqs in its files; the open log's stats() has it)");
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  },
};
