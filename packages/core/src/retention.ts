/**
 * Retention: remove whole segments that hold nothing at or after a given seq.
 *
 * Within a shard, segment i holds seqs from its first seq up to (not including) the first seq of
 * segment i+1, so it is removable iff segment i+1 exists and its first seq is <= seq. The shard's
 * last segment (the one its writer appends to) is therefore never removed. Segments are unlinked
 * oldest first, so a crash part way leaves a contiguous run of segments; then the shard directory
 * is fsynced so the removals are durable. Readers that already hold a removed file open keep
 * reading it; readers and followers that come to a removed file skip to the next one.
 *
 * Retention holds (holds.ts) lower the bound per shard: a segment holding a seq above the lowest
 * hold's `shipped[s]` stays, whatever `seq` says, so a shipper's unacknowledged entries are never
 * removed, also when retention runs in another process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir, InvalidArgumentError, listSegments, shardDirName, type Format } from '@shardlog/workers';
import { heldSeqs, readHolds } from './holds.js';

export interface RemovedSegment {
  shard: number;
  file: string;
  firstSeq: number;
  bytes: number;
}

export interface RetentionResult {
  /** Segments removed, oldest first per shard. */
  removed: RemovedSegment[];
  /** Their bytes together. */
  bytes: number;
  /** Holds that kept segments below `seq` (their holders still need them), with the shard. */
  heldBy: { holder: string; shard: number; shipped: number }[];
}

/** Remove, in every shard, the segments that hold only seqs below `seq`. */
export function truncateSegmentsBefore(dir: string, shards: number, format: Format, seq: number): RetentionResult {
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new InvalidArgumentError(`truncateBefore(seq) takes a non-negative integer sequence number, got ${String(seq)}`);
  }
  const out: RetentionResult = { removed: [], bytes: 0, heldBy: [] };
  const holds = readHolds(dir);
  const held = heldSeqs(holds, shards);
  for (let s = 0; s < shards; s++) {
    const segs = listSegments(dir, s, format);
    // a segment goes iff the next one starts at or below the bound: every seq it holds is below it
    const bound = Math.min(seq, held[s] + 1);
    if (bound < seq) {
      for (const h of holds) if ((h.shipped[s] ?? 0) + 1 < seq) out.heldBy.push({ holder: h.holder, shard: s, shipped: h.shipped[s] ?? 0 });
    }
    let removedHere = 0;
    for (let i = 0; i + 1 < segs.length && segs[i + 1].firstSeq <= bound; i++) {
      const g = segs[i];
      let bytes = 0;
      try {
        bytes = fs.statSync(g.file).size;
        fs.unlinkSync(g.file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed by someone else meanwhile
        throw e;
      }
      out.removed.push({ shard: s, file: g.file, firstSeq: g.firstSeq, bytes });
      out.bytes += bytes;
      removedHere++;
    }
    if (removedHere > 0) fsyncDir(path.join(dir, shardDirName(s)));
  }
  return out;
}
