/**
 * Verify many segment files in parallel with a piscina pool (verify-task.ts, one task per segment),
 * then check what only the whole shard shows: each segment header's prevMaxSeq against the segment
 * before it, so a deleted or cut segment in the middle is caught.
 *
 * Piscina is imported only when a pool is needed, so opening a log without verify: 'all' never loads it.
 */
import { availableParallelism } from 'node:os';
import type { SegmentCheck, SegmentTask } from './verify-segment.js';
import { verifySegment } from './verify-segment.js';
import { chainBreak } from './segment-header.js';
import { workerExecArgv } from './worker-argv.js';

export const VERIFY_TASK_URL = new URL('./verify-task.js', import.meta.url);

export interface VerifyPoolOptions {
  /** Pool threads (default: the CPU count, at most one per segment). 0 checks in this thread. */
  threads?: number;
}

/** Check every task's segment; results come back in the order of `tasks`. */
export async function verifySegments(tasks: SegmentTask[], opts: VerifyPoolOptions = {}): Promise<SegmentCheck[]> {
  if (tasks.length === 0) return [];
  const threads = Math.min(opts.threads ?? availableParallelism(), tasks.length);
  if (threads <= 0) return tasks.map(verifySegment);
  const { Piscina } = await import('piscina');
  const pool = new Piscina<SegmentTask, SegmentCheck>({ filename: VERIFY_TASK_URL.href, minThreads: threads, maxThreads: threads, idleTimeout: 1000, execArgv: workerExecArgv() });
  try {
    return await Promise.all(tasks.map((t) => pool.run(t)));
  } finally {
    await pool.destroy();
  }
}

/**
 * Cross-segment checks of one shard's segments, oldest first: a segment's header names the highest
 * seq of the segment before it, and its own first seq must lie above that. Adds errors (offset 0)
 * to the later segment. Segments that already have errors are not used as a reference, and a
 * segment removed meanwhile (retention) ends the chain: the next one is not compared across it.
 */
export function checkChain(segs: SegmentCheck[]): void {
  for (let i = 1; i < segs.length; i++) {
    const prev = segs[i - 1];
    const cur = segs[i];
    if (cur.removed || prev.removed || cur.prevMaxSeq < 0 || prev.prevMaxSeq < 0 || prev.errors.length > 0) continue;
    const prevEnd = prev.records > 0 ? prev.maxSeq : prev.prevMaxSeq;
    const broken = chainBreak(cur.prevMaxSeq, prevEnd);
    if (broken) {
      cur.errors.push({ offset: 0, reason: broken, bytes: 0, kind: 'chain' });
    } else if (cur.records > 0 && cur.minSeq <= prevEnd) {
      cur.errors.push({ offset: 0, reason: `first seq ${cur.minSeq} is not above the previous segment's last seq ${prevEnd}`, bytes: 0, kind: 'order' });
    }
  }
}
