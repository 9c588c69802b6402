/**
 * Where shipped entries come from, with the durability rule: only durable entries leave the machine.
 *
 * - LogSource (in-process, `log`): Log.follow() yields only entries the writers have fdatasynced.
 * - DirSource (`dir`, a log another process writes): the writer's durability signals live in its
 *   own memory, so the files are polled like `shardlog tail -f`, shard by shard (each shard's file
 *   is in seq order). Records read from a segment are whole and CRC-valid but may not be synced
 *   yet, so before handing them over the source calls fdatasync on that segment itself: fdatasync
 *   on any descriptor of the inode makes everything written to the file durable, so no later
 *   recovery can cut an entry that was shipped.
 */
import * as fs from 'node:fs';
import { ShardCursor, type Log, type LogEntry, type ReadKeys } from '@shardlog/core';
import { listSegments } from '@shardlog/workers';

export interface EntrySource {
  /**
   * Entries (in seq order within each shard), about `maxBytes` of entry bytes at most (always at
   * least one entry when there is one); [] if none came within a poll; null once the source ended.
   */
  pull(maxBytes: number): Promise<LogEntry[] | null>;
  /** Make a pending pull() resolve soon (with what there is, maybe []). */
  interrupt(): void;
  /** Bytes in the files past what was read (DirSource), or undefined if unknown. */
  unreadBytes(): number | undefined;
  close(): void;
}

/** The first seq of a shard's files above `after`, or undefined if there is none yet. */
function firstAbove(dir: string, shard: number, after: number, keys?: ReadKeys): number | undefined {
  const c = new ShardCursor(dir, shard, after + 1, undefined, keys);
  try {
    return c.next(Number.MAX_SAFE_INTEGER, 0)?.seq;
  } finally {
    c.close();
  }
}

/**
 * Log.follow() from the lowest seq any shard still has to ship. A loop moves what follow() yields
 * into a bounded array, so pull() hands over everything that arrived since the last call.
 */
export class LogSource implements EntrySource {
  private readonly it: AsyncGenerator<LogEntry>;
  private buf: LogEntry[] = [];
  private head = 0;
  private bufBytes = 0;
  private ended = false;
  private failure: { e: unknown } | undefined;
  private waiter: (() => void) | undefined;
  private space: (() => void) | undefined;
  private closed = false;
  /** What the loop reads ahead of pull(), at most (bytes; one entry more at most). */
  private static readonly AHEAD_BYTES = 256 * 1024;

  constructor(log: Log, shipped: number[], keys?: ReadKeys) {
    // Start at the lowest unshipped seq found in the files (a shard with nothing unshipped does not
    // hold the start back: anything it gets later has a seq >= the log's next seq).
    let from = log.nextSeq;
    for (let s = 0; s < shipped.length; s++) {
      const f = firstAbove(log.dir, s, shipped[s], keys);
      if (f !== undefined && f < from) from = f;
    }
    this.it = log.follow({ fromSeq: from });
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      for await (const e of this.it) {
        this.buf.push(e);
        this.bufBytes += e.data.length;
        if (this.buf.length - this.head === 1) this.wake();
        if (this.bufBytes >= LogSource.AHEAD_BYTES) await new Promise<void>((r) => (this.space = r));
        if (this.closed) return;
      }
      this.ended = true;
    } catch (e) {
      this.failure = { e };
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async pull(maxBytes: number): Promise<LogEntry[] | null> {
    if (this.buf.length === this.head && !this.ended && !this.failure && !this.closed) await new Promise<void>((r) => (this.waiter = r));
    if (this.buf.length > this.head) {
      let end = this.head;
      let bytes = 0;
      while (end < this.buf.length && (end === this.head || bytes + this.buf[end].data.length <= maxBytes)) bytes += this.buf[end++].data.length;
      const out = this.buf.slice(this.head, end);
      this.head = end;
      this.bufBytes -= bytes;
      if (this.head === this.buf.length) {
        this.buf = [];
        this.head = 0;
      }
      if (this.bufBytes < LogSource.AHEAD_BYTES) {
        const s = this.space;
        this.space = undefined;
        s?.();
      }
      return out;
    }
    if (this.failure) throw this.failure.e;
    return this.ended || this.closed ? null : [];
  }

  interrupt(): void {
    this.wake();
  }

  unreadBytes(): undefined {
    return undefined;
  }

  close(): void {
    this.closed = true;
    this.wake();
    const s = this.space;
    this.space = undefined;
    s?.();
    // a pending next() of follow() ends with the log's next entry or its close
    void this.it.return(undefined).catch(() => {});
  }
}

/** The segment files of a log written elsewhere, polled every pollMs, synced before handing over. */
export class DirSource implements EntrySource {
  private readonly cursors: ShardCursor[];
  private readonly synced: { file: string | undefined; fd: number }[];
  private readonly stuckAt: string[];
  private poll = 0;
  private closed = false;
  /** What unreadBytes() said as the source closed. */
  private unreadAtClose: number | undefined;
  private nap: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  constructor(
    private readonly dir: string,
    shipped: number[],
    private readonly pollMs: number,
    /** End (pull() gives null) at the first poll that finds nothing: for a log that was closed. */
    private readonly untilDry = false,
    private readonly maxChunk = 4096,
    /** An encrypted log: the keys to open its segments. */
    keys?: ReadKeys,
  ) {
    this.cursors = shipped.map((seq, s) => new ShardCursor(dir, s, seq + 1, undefined, keys));
    this.synced = shipped.map(() => ({ file: undefined, fd: -1 }));
    this.stuckAt = shipped.map(() => '');
  }

  async pull(maxBytes: number): Promise<LogEntry[] | null> {
    if (this.closed) return null;
    const out: LogEntry[] = [];
    this.poll++;
    const budget = { bytes: maxBytes };
    for (let s = 0; s < this.cursors.length; s++) this.readShard(s, out, budget);
    if (out.length === 0) {
      if (this.untilDry) return null;
      this.checkStuck();
      await new Promise<void>((r) => (this.nap = { timer: setTimeout(r, this.pollMs), wake: r }));
      this.nap = undefined;
    }
    return out;
  }

  interrupt(): void {
    if (this.nap) {
      clearTimeout(this.nap.timer);
      this.nap.wake();
    }
  }

  /**
   * Up to maxChunk entries of shard s into out, then fdatasync the segment the cursor stands in. A
   * segment the cursor left behind needs nothing: the writer syncs a segment before it creates the
   * next one.
   */
  private readShard(s: number, out: LogEntry[], budget: { bytes: number }): void {
    const c = this.cursors[s];
    const start = out.length;
    // each shard gets a share of the budget, and at least one entry (the cursor stays where it stopped)
    let share = Math.max(1, Math.floor(budget.bytes / this.cursors.length));
    for (let n = 0; n < this.maxChunk && share > 0; n++) {
      const e = c.next(Number.MAX_SAFE_INTEGER, this.poll);
      if (!e) break;
      out.push(e);
      share -= e.data.length;
    }
    if (out.length > start) this.syncFile(s, c.position.file);
  }

  /** fdatasync the segment the shard's last records came from (it may still be being written). */
  private syncFile(s: number, file: string | undefined): void {
    if (!file) return;
    const h = this.synced[s];
    if (h.file !== file) {
      if (h.fd >= 0) fs.closeSync(h.fd);
      h.fd = -1;
      h.file = file;
      try {
        h.fd = fs.openSync(file, 'r');
      } catch (e) {
        // removed meanwhile: only a segment that is not a shard's last can be removed, and the
        // writer synced it before starting the next one
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
    }
    if (h.fd >= 0) fs.fdatasyncSync(h.fd);
  }

  /** A bad record still bad a poll later, with valid records after it, is corruption: throw it. */
  private checkStuck(): void {
    this.cursors.forEach((c, i) => {
      const at = c.stuck ? `${c.stuck.file}:${c.stuck.offset}` : '';
      if (at && at === this.stuckAt[i]) {
        const err = c.diagnose();
        if (err) throw err;
      }
      this.stuckAt[i] = at;
    });
  }

  unreadBytes(): number {
    if (this.unreadAtClose !== undefined) return this.unreadAtClose; // closed cursors no longer know where they stood
    let total = 0;
    this.cursors.forEach((c, s) => {
      const { file, offset } = c.position;
      for (const g of listSegments(this.dir, s, 'framed')) {
        if (file !== undefined && g.file < file) continue;
        try {
          total += Math.max(0, fs.statSync(g.file).size - (g.file === file ? offset : 0));
        } catch {
          // removed meanwhile
        }
      }
    });
    return total;
  }

  close(): void {
    if (this.closed) return;
    this.unreadAtClose = this.unreadBytes();
    this.closed = true;
    for (const c of this.cursors) c.close();
    for (const h of this.synced) if (h.fd >= 0) fs.closeSync(h.fd);
  }
}
