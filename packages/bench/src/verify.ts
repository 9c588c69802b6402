/**
 * Verification after every end-to-end run: did every entry arrive, once, intact?
 *
 * Each run writes N entries from a known pool (entries.ts), so the files must hold exactly N
 * entries whose CRC-32Cs add up to the expected sum. Line files are split on '\n' (pino's lines
 * are unwrapped to their `msg` first); shardlog logs are read back with readLogSync, which checks
 * every record's own CRC and gives the sequence numbers, which must run 1..N without a gap.
 * A missing, duplicated, truncated or altered entry changes the count or the sum.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLogSync } from '@shardlog/core';
import { listSegments, listShardDirs } from '@shardlog/workers';
import { entryChecksum, type Expected } from './entries.js';

export interface Verification {
  ok: boolean;
  count: number;
  checksum: number;
  expectedCount: number;
  expectedChecksum: number;
  /** Bytes of the files the run produced (framing, headers and newlines included). */
  fileBytes: number;
  /** Why it failed (empty when ok). */
  problem: string;
}

/** How a line maps to the entry it carries. */
export type LineDecoding = 'raw' | 'pino';

/** pino({ base: null, timestamp: false }).info(msg) writes exactly this around an entry that needs no escaping. */
export const PINO_PREFIX = Buffer.from('{"level":30,"msg":"');
export const PINO_SUFFIX = Buffer.from('"}');

function finish(count: number, checksum: number, fileBytes: number, exp: Expected, problem: string): Verification {
  if (!problem && count !== exp.count) problem = `${count} entries arrived, ${exp.count} were written`;
  if (!problem && checksum !== exp.checksum) problem = `checksum ${checksum.toString(16)} differs from the expected ${exp.checksum.toString(16)}`;
  return { ok: problem === '', count, checksum, expectedCount: exp.count, expectedChecksum: exp.checksum, fileBytes, problem };
}

function startsWith(b: Uint8Array, start: number, end: number, p: Uint8Array): boolean {
  if (end - start < p.length) return false;
  for (let i = 0; i < p.length; i++) if (b[start + i] !== p[i]) return false;
  return true;
}

/** Verify newline-terminated files (several files are one stream, e.g. one per shard). */
export function verifyLines(files: string[], exp: Expected, decoding: LineDecoding = 'raw'): Verification {
  let count = 0;
  let checksum = 0;
  let fileBytes = 0;
  let problem = '';
  const chunk = Buffer.allocUnsafe(4 << 20);
  for (const file of files) {
    const fd = fs.openSync(file, 'r');
    try {
      let carry: Buffer = Buffer.alloc(0);
      for (;;) {
        const n = fs.readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        fileBytes += n;
        const buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
        let start = 0;
        for (;;) {
          const nl = buf.indexOf(10, start);
          if (nl < 0) break;
          let s = start;
          let e = nl;
          if (decoding === 'pino') {
            if (!startsWith(buf, s, e, PINO_PREFIX) || buf[e - 2] !== PINO_SUFFIX[0] || buf[e - 1] !== PINO_SUFFIX[1]) {
              if (!problem) problem = `line ${count + 1} of ${path.basename(file)} is not a pino line of the expected shape`;
            } else {
              s += PINO_PREFIX.length;
              e -= PINO_SUFFIX.length;
            }
          }
          checksum = (checksum + entryChecksum(buf, s, e)) % 4294967296;
          count++;
          start = nl + 1;
        }
        carry = Buffer.from(buf.subarray(start));
      }
      if (carry.length > 0 && !problem) problem = `${path.basename(file)} ends with ${carry.length} bytes of an unterminated line`;
    } finally {
      fs.closeSync(fd);
    }
  }
  return finish(count, checksum, fileBytes, exp, problem);
}

/** Every segment file of a shardlog log directory. */
export function segmentFilesOf(dir: string, format: 'framed' | 'lines'): string[] {
  const out: string[] = [];
  for (const shard of listShardDirs(dir)) for (const s of listSegments(dir, shard, format)) out.push(s.file);
  return out;
}

/** Verify a closed shardlog log: framed logs through readLogSync (seqs 1..N in order), lines logs as line files. */
export function verifyShardlog(dir: string, exp: Expected, format: 'framed' | 'lines' = 'framed'): Verification {
  const files = segmentFilesOf(dir, format);
  if (format === 'lines') return verifyLines(files, exp, 'raw');
  let fileBytes = 0;
  for (const f of files) fileBytes += fs.statSync(f).size;
  let count = 0;
  let checksum = 0;
  let problem = '';
  let prev = 0;
  try {
    for (const e of readLogSync({ dir, chunkBytes: 4 << 20 })) {
      if (e.seq !== prev + 1 && !problem) problem = `sequence jumps from ${prev} to ${e.seq}`;
      prev = e.seq;
      checksum = (checksum + entryChecksum(e.data)) % 4294967296;
      count++;
    }
  } catch (err) {
    problem = `reading the log failed: ${(err as Error).message}`;
  }
  return finish(count, checksum, fileBytes, exp, problem);
}
