/**
 * --tear: damage a shard's last segment after the kill, the way a crash with unflushed pages or a
 * failing disk would, then let recovery and the verifier show what became of it.
 *
 * 'tail' (the default) hits ONLY bytes past the last record that holds an acknowledged entry, so it
 * never touches data the runner was told is durable; recovery must cut it and every acknowledged
 * entry must survive. One of, picked by the seed: truncate at a random byte, zero from a random byte
 * to the end (pages never flushed), random garbage from a random byte to the end, or a zeroed hole of
 * whole records with later records still intact (an unflushed hole: recovery cuts at the hole).
 *
 * Damage goes by units of durability: records in format version 1, whole frames in version 2 (a
 * frame is written, synced and cut whole: "past the last acknowledged record" means past the end of
 * the frame holding it).
 *
 * 'synced' flips one byte inside an acknowledged record that has a valid record (frame) after it. That is
 * corruption of synced data, which shardlog cannot repair: the run expects it to be reported loudly
 * (CorruptLogError from openLog's recovery, or from readLog for an older segment), never silently cut.
 */
import * as fs from 'node:fs';
import { HEADER_BYTES, listSegments, segmentHeaderBytes, SegmentScanner, TYPE_UTF8, type SegmentRef } from '@shardlog/workers';
import type { Payloads } from './payload.js';
import type { Rng } from './prng.js';
import type { TearMode } from './options.js';

export interface TearReport {
  mode: TearMode;
  applied: boolean;
  shard?: number;
  file?: string;
  kind?: 'truncate' | 'zero-tail' | 'garbage-tail' | 'hole' | 'flip';
  /** File offset where the damage starts, and how many bytes it covers. */
  offset?: number;
  bytes?: number;
  /** Acknowledged bytes in the file before the damage (tail mode: the damage starts at or after this). */
  ackedEnd?: number;
  note?: string;
}

interface Scan {
  shard: number;
  file: string;
  size: number;
  /** Start offsets of the whole valid units (records, or frames in version 2), in order, and their aligned ends. */
  starts: number[];
  ends: number[];
  /** Does the unit hold an acknowledged record? */
  acked: boolean[];
  /** A record of each unit (an acknowledged one if any): its start and unpadded end, for a flip. */
  recStarts: number[];
  recEnds: number[];
  ackedEnd: number;
}

function scanSegment(seg: SegmentRef, gen: Payloads, ackCount: (producer: number) => number): Scan {
  const { shard, file } = seg;
  const sc = new SegmentScanner(seg, { last: true });
  const s: Scan = { shard, file, size: sc.bytes, starts: [], ends: [], acked: [], recStarts: [], recEnds: [], ackedEnd: segmentHeaderBytes(sc.version) };
  try {
    while (sc.next()) {
      const d = gen.check(sc.payload(), sc.type === TYPE_UTF8);
      const acked = d.producer >= 0 && d.index < ackCount(d.producer);
      const n = s.starts.length;
      if (n === 0 || s.starts[n - 1] !== sc.unitStart) {
        s.starts.push(sc.unitStart);
        s.ends.push(sc.unitEnd);
        s.acked.push(false);
        s.recStarts.push(sc.offset);
        s.recEnds.push(sc.offset + sc.length);
      }
      const u = s.starts.length - 1;
      if (acked && !s.acked[u]) {
        s.acked[u] = true;
        s.recStarts[u] = sc.offset;
        s.recEnds[u] = sc.offset + sc.length;
      }
      if (acked) s.ackedEnd = sc.unitEnd;
    }
  } finally {
    sc.close();
  }
  s.size = sc.bytes;
  return s;
}

export function tearLog(dir: string, shards: number, gen: Payloads, ackCount: (producer: number) => number, rng: Rng, mode: TearMode): TearReport {
  const scans: Scan[] = [];
  for (let shard = 0; shard < shards; shard++) {
    const segs = listSegments(dir, shard, 'framed');
    if (segs.length === 0) continue;
    scans.push(scanSegment(segs[segs.length - 1], gen, ackCount));
  }
  return mode === 'tail' ? tearTail(scans, rng) : tearSynced(dir, shards, scans, gen, ackCount, rng);
}

function tearTail(scans: Scan[], rng: Rng): TearReport {
  const cands = scans.filter((s) => s.size > s.ackedEnd);
  if (cands.length === 0) return { mode: 'tail', applied: false, note: 'no last segment had bytes past its last acknowledged record' };
  const s = cands[rng.int(0, cands.length - 1)];
  const after = s.starts.map((st, i) => i).filter((i) => s.starts[i] >= s.ackedEnd);
  const kinds: TearReport['kind'][] = ['truncate', 'zero-tail', 'garbage-tail'];
  if (after.length >= 2) kinds.push('hole');
  const kind = kinds[rng.int(0, kinds.length - 1)]!;
  const rep: TearReport = { mode: 'tail', applied: true, shard: s.shard, file: s.file, kind, ackedEnd: s.ackedEnd };
  const fd = fs.openSync(s.file, 'r+');
  try {
    if (kind === 'hole') {
      // zero whole records [a, b) with a valid record still at b
      const i = after[rng.int(0, after.length - 2)];
      const j = rng.int(i + 1, after[after.length - 1]);
      rep.offset = s.starts[i];
      rep.bytes = s.starts[j] - s.starts[i];
      fs.writeSync(fd, Buffer.alloc(rep.bytes), 0, rep.bytes, rep.offset);
    } else {
      const at = rng.int(s.ackedEnd, s.size - 1);
      rep.offset = at;
      rep.bytes = s.size - at;
      if (kind === 'truncate') fs.ftruncateSync(fd, at);
      else {
        const b = Buffer.alloc(rep.bytes);
        if (kind === 'garbage-tail') rng.fill(b);
        fs.writeSync(fd, b, 0, b.length, at);
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return rep;
}

function tearSynced(dir: string, shards: number, lastScans: Scan[], gen: Payloads, ackCount: (producer: number) => number, rng: Rng): TearReport {
  // an acknowledged record with a valid record after it: last segments first, then older ones
  const pick = (scans: Scan[]) => {
    const c: { s: Scan; i: number }[] = [];
    for (const s of scans) for (let i = 0; i + 1 < s.starts.length; i++) if (s.acked[i]) c.push({ s, i });
    return c.length ? c[rng.int(0, c.length - 1)] : undefined;
  };
  let hit = pick(lastScans);
  if (!hit) {
    const older: Scan[] = [];
    for (let shard = 0; shard < shards; shard++) {
      const segs = listSegments(dir, shard, 'framed');
      for (const seg of segs.slice(0, -1)) older.push(scanSegment(seg, gen, ackCount));
    }
    hit = pick(older);
  }
  if (!hit) return { mode: 'synced', applied: false, note: 'no acknowledged record with a record after it to corrupt' };
  const { s, i } = hit;
  // a byte of the acknowledged record's payload (its real end, without padding, is where its length says)
  const start = s.recStarts[i] + HEADER_BYTES;
  const fd = fs.openSync(s.file, 'r+');
  try {
    const at = rng.int(start, s.recEnds[i] - 1);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] ^= 1 << rng.int(0, 7);
    fs.writeSync(fd, b, 0, 1, at);
    fs.fsyncSync(fd);
    return { mode: 'synced', applied: true, shard: s.shard, file: s.file, kind: 'flip', offset: at, bytes: 1, ackedEnd: s.ackedEnd };
  } finally {
    fs.closeSync(fd);
  }
}
