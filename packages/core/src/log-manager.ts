/**
 * openLogManager: many named logs in one process, written through one fixed pool of writer threads.
 *
 *   const manager = await openLogManager({ root: 'data/tenants', writers: 3 });
 *   const log = await manager.log('acme');   // opened (or created) on first use, then reused
 *   await log.durable(log.append('hello'));
 *   await manager.close();                    // drains and syncs every log
 *
 * Each log is an ordinary log directory under the root (own lock, manifest, recovery: openLog,
 * readLog and the CLI read it as is); only its shard writers live on the pool's threads. Opening
 * past maxOpenLogs closes the least recently used log first (or throws TooManyLogsError), and logs
 * left idle for idleCloseMs are closed: a closed log costs no memory, no thread and no descriptor.
 */
import { registerExitFlush, unregisterExitFlush } from './integrations/exit-flush.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, LogClosedError, MANIFEST_FILE, mkdirDurable, TooManyLogsError, WriterStartError } from '@shardlog/workers';
import { acquireLock } from './lock.js';
import { asOpenError } from './log-dir.js';
import { openLogWith, type Log, type LogStats } from './log.js';
import { defaultMaxOpenLogs, defaultWriters } from './manager-limits.js';
import { checkLogName, listLogNames, logDirOf } from './manager-names.js';
import { resolveOptions, shown, type OpenOptions } from './options.js';
import { WriterPool } from './writer-pool.js';

/** Options of one log of a manager: openLog's, without dir (the name gives it) and flushOnExit (the manager's). */
export type ManagedLogOptions = Omit<OpenOptions, 'dir' | 'flushOnExit' | 'testFaults'>;

export interface LogManagerOptions extends ManagedLogOptions {
  /** Directory holding one directory per log (created if missing). */
  root: string;
  /** Writer threads shared by all logs. Default: one less than the CPU count (at least 1). */
  writers?: number;
  /** Most logs open at once. Default: what the open-file limit allows (2 descriptors a shard), at most 4096. */
  maxOpenLogs?: number;
  /** At maxOpenLogs: 'evict' (default) closes the least recently used log first; 'error' throws TooManyLogsError. */
  onLimit?: 'evict' | 'error';
  /** Close a log nobody asked for (manager.log) or appended to for this long. Default: never. */
  idleCloseMs?: number;
  /** Ring bytes a writer drains before letting the other logs on its thread have a turn. Default 256 KiB. */
  turnBytes?: number;
}

export interface LogManagerStats {
  /** Logs open now (not those still opening, nor those waiting for room under maxOpenLogs). */
  openLogs: number;
  /** Logs whose directory this manager created. */
  logsCreated: number;
  /** Opens from disk (created ones included). */
  logsOpened: number;
  /** manager.log() calls answered with the log already open (or being opened by an earlier call). */
  logsReused: number;
  /** Logs closed to stay within maxOpenLogs. */
  logsEvicted: number;
  /** Logs closed after idleCloseMs. */
  logsIdleClosed: number;
  logsDropped: number;
  /** Writer threads running, and the shard writers they host. */
  threads: number;
  hostedWriters: number;
  /** Totals over every log this manager opened (closed ones included). */
  entries: number;
  payloadBytes: number;
  fileBytes: number;
  fsyncs: number;
  /** Each open log's stats, by name. */
  logs: Record<string, LogStats>;
}

/** One named log, open or on its way. */
interface Slot {
  log?: Log;
  opening?: Promise<Log>;
  /** Date.now() of the last manager.log() or observed append. */
  lastUsed: number;
  /** nextSeq when the idle sweep last looked. */
  seenSeq: number;
  /** Counted against maxOpenLogs: open, or past makeRoom and opening. A slot waiting for room is not. */
  admitted?: boolean;
}

type Totals = Pick<LogManagerStats, 'entries' | 'payloadBytes' | 'fileBytes' | 'fsyncs'>;
const TOTAL_KEYS = ['entries', 'payloadBytes', 'fileBytes', 'fsyncs'] as const;

export class LogManager {
  /** The root directory, absolute. */
  readonly root: string;
  private readonly pool: WriterPool;
  private readonly defaults: ManagedLogOptions;
  private readonly maxOpenLogs: number;
  private readonly onLimit: 'evict' | 'error';
  /** Open (and opening) logs, least recently used first. */
  private readonly slots = new Map<string, Slot>();
  /** Logs being closed (evicted, idle, dropped): a reopen waits for the close. */
  private readonly closingLogs = new Map<string, Promise<void>>();
  /** Logs being dropped: an open asked for meanwhile waits for the drop. */
  private readonly dropping = new Map<string, Promise<void>>();
  private readonly counts = { logsCreated: 0, logsOpened: 0, logsReused: 0, logsEvicted: 0, logsIdleClosed: 0, logsDropped: 0 };
  private readonly closedTotals: Totals = { entries: 0, payloadBytes: 0, fileBytes: 0, fsyncs: 0 };
  private readonly sweep: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly exitTarget = { flushOnExit: (): void => this.onExit() };
  private readonly onExit = (): void => {
    for (const s of this.slots.values()) s.log?.flushAtExit();
  };

  /** @internal use openLogManager */
  constructor(o: LogManagerOptions) {
    const { root, writers, maxOpenLogs, onLimit, idleCloseMs, turnBytes, ...defaults } = o;
    this.root = path.resolve(root);
    this.defaults = { shards: 1, ringBytes: 256 * 1024, ...defaults };
    resolveOptions({ ...this.defaults, dir: this.root }); // the per-log defaults are checked once, here
    const w = writers ?? defaultWriters();
    this.maxOpenLogs = maxOpenLogs ?? defaultMaxOpenLogs(this.defaults.shards ?? 1, w);
    this.onLimit = onLimit ?? 'evict';
    try {
      mkdirDurable(this.root);
      if (!fs.statSync(this.root).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, '${this.root}'`), { code: 'ENOTDIR' });
    } catch (e) {
      throw asOpenError(e, this.root); // before any thread starts
    }
    this.pool = new WriterPool(w, turnBytes ?? 256 * 1024);
    if (idleCloseMs !== undefined) {
      this.sweep = setInterval(() => this.closeIdle(idleCloseMs), Math.max(10, Math.floor(idleCloseMs / 2)));
      this.sweep.unref();
    }
    registerExitFlush(this.exitTarget, true);
  }

  /**
   * The log `name` (a directory under the root), opened (or created) on first use and reused after.
   * `options` apply when this call opens it (they override the manager's defaults).
   */
  log(name: string, options: ManagedLogOptions = {}): Promise<Log> {
    try {
      checkLogName(name);
    } catch (e) {
      return Promise.reject(e); // a bad name rejects like every other failure of log()
    }
    if (this.closing) return Promise.reject(new LogClosedError('the log manager is closed'));
    if (options !== null && typeof options === 'object') {
      try {
        refuseOpenOnly(options);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const slot = this.slots.get(name);
    if (slot) {
      this.slots.delete(name); // most recently used goes last
      this.slots.set(name, slot);
      slot.lastUsed = Date.now();
      this.counts.logsReused++;
      return slot.log ? Promise.resolve(slot.log) : slot.opening!;
    }
    const s: Slot = { lastUsed: Date.now(), seenSeq: 0 };
    s.opening = this.openSlot(name, s, options, this.dropping.get(name));
    this.slots.set(name, s);
    return s.opening;
  }

  /** `dropFirst`: a drop of the same name asked for before this open (it comes first). */
  private async openSlot(name: string, slot: Slot, options: ManagedLogOptions, dropFirst: Promise<void> | undefined): Promise<Log> {
    try {
      await dropFirst;
      await this.closingLogs.get(name);
      await this.makeRoom(name, slot);
      const dir = logDirOf(this.root, name);
      const existed = fs.existsSync(path.join(dir, MANIFEST_FILE));
      // the manager's default shard count is for new logs: an existing one keeps its own
      const shards = options.shards ?? (existed ? undefined : this.defaults.shards);
      const o = resolveOptions({ ...this.defaults, ...options, shards, dir, flushOnExit: false });
      const log = await this.openOnPool(o);
      this.counts.logsOpened++;
      if (!existed) this.counts.logsCreated++;
      slot.log = log;
      slot.opening = undefined;
      slot.seenSeq = log.nextSeq;
      if (this.closing || this.slots.get(name) !== slot) await this.closeLog(name, log); // the manager closed meanwhile
      return log;
    } catch (e) {
      if (this.slots.get(name) === slot) this.slots.delete(name);
      throw e;
    }
  }

  /** Open on the pool; if the thread chosen died meanwhile (another log's fatal fault), once more on a live one. */
  private async openOnPool(o: ReturnType<typeof resolveOptions>): Promise<Log> {
    try {
      return await openLogWith(o, this.pool.spawn);
    } catch (e) {
      if (e instanceof WriterStartError && this.pool.reap()) return openLogWith(o, this.pool.spawn);
      throw e;
    }
  }

  /**
   * Admit `slot` within maxOpenLogs: while the admitted slots (open, or opening past this point) fill
   * the limit, close the least recently used open log, or, when every admitted one is still opening,
   * wait for one of them. Slots waiting here do not count, so opens asked for all at once never wait
   * on each other (they did: each counted the others and waited for them to open).
   */
  private async makeRoom(name: string, slot: Slot): Promise<void> {
    for (;;) {
      if (this.closing) throw new LogClosedError('the log manager is closed');
      if (this.slots.get(name) !== slot) throw new LogClosedError(`the log ${name} was dropped while it was opening`);
      let admitted = 0;
      let victim: string | undefined;
      const opening: Promise<unknown>[] = [];
      for (const [n, s] of this.slots) {
        if (!s.admitted) continue;
        admitted++;
        if (s.log) victim ??= n;
        else if (s.opening) opening.push(s.opening.catch(() => undefined));
      }
      if (admitted < this.maxOpenLogs) {
        slot.admitted = true;
        return;
      }
      if (this.onLimit === 'error') throw new TooManyLogsError(this.maxOpenLogs);
      if (victim === undefined) {
        await Promise.race(opening); // every admitted slot is still opening: wait for one, then look again
        continue;
      }
      this.counts.logsEvicted++;
      await this.release(victim);
    }
  }

  /** Close an open log and forget it (its next manager.log() opens it again). */
  private release(name: string): Promise<void> {
    const slot = this.slots.get(name);
    if (!slot?.log) return this.closingLogs.get(name) ?? Promise.resolve();
    this.slots.delete(name);
    return this.closeLog(name, slot.log);
  }

  private closeLog(name: string, log: Log): Promise<void> {
    const done = log.close().finally(() => {
      const st = log.stats();
      for (const k of TOTAL_KEYS) this.closedTotals[k] += st[k];
      if (this.closingLogs.get(name) === done) this.closingLogs.delete(name);
    });
    this.closingLogs.set(name, done);
    return done;
  }

  /** The idle sweep: close logs not asked for nor appended to for `ms`. */
  private closeIdle(ms: number): void {
    const now = Date.now();
    for (const [name, s] of [...this.slots]) {
      if (!s.log) continue;
      const seq = s.log.nextSeq;
      if (seq !== s.seenSeq) {
        s.seenSeq = seq;
        s.lastUsed = now;
      } else if (now - s.lastUsed >= ms) {
        this.counts.logsIdleClosed++;
        this.release(name).catch(() => undefined); // a failed log's close rejects: it is closed all the same
      }
    }
  }

  /** Names of the logs under the root, open or not, sorted. */
  list(): string[] {
    return listLogNames(this.root);
  }

  /**
   * Close the log `name` if it is open, and remove its directory. Resolves true if there was one.
   * Refuses (LogLockedError) while another process has it open.
   */
  async drop(name: string): Promise<boolean> {
    checkLogName(name);
    if (this.closing) throw new LogClosedError('the log manager is closed');
    const done = this.dropLog(name); // (forgets the slot at once: a log(name) after this call opens afresh, after the drop)
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.dropping.set(name, settled);
    try {
      return await done;
    } finally {
      if (this.dropping.get(name) === settled) this.dropping.delete(name);
    }
  }

  private async dropLog(name: string): Promise<boolean> {
    const dir = logDirOf(this.root, name);
    const slot = this.slots.get(name);
    if (slot) {
      this.slots.delete(name);
      if (slot.log) await this.closeLog(name, slot.log).catch(() => undefined);
      else await slot.opening?.catch(() => undefined); // openSlot closes what it opens once its slot is gone
    }
    await this.closingLogs.get(name)?.catch(() => undefined);
    if (!fs.existsSync(dir)) return false;
    const unlock = acquireLock(dir);
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      unlock();
      throw e;
    }
    syncDir(this.root);
    this.counts.logsDropped++;
    return true;
  }

  /** The manager's counters and every open log's stats (read from shared memory). */
  stats(): LogManagerStats {
    const logs: Record<string, LogStats> = {};
    const totals: Totals = { ...this.closedTotals };
    for (const [name, s] of this.slots) {
      if (!s.log) continue;
      const st = s.log.stats();
      logs[name] = st;
      for (const k of TOTAL_KEYS) totals[k] += st[k];
    }
    return { openLogs: [...this.slots.values()].filter((s) => s.log).length, ...this.counts, threads: this.pool.threadCount, hostedWriters: this.pool.hostedWriters, ...totals, logs };
  }

  /**
   * Close every log (each drains and syncs what was appended), then stop the writer threads.
   * Rejects with the first log's failure, after closing all of them. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    await Promise.all([...this.slots.values()].map((s) => s.opening?.catch(() => undefined)));
    const names = [...this.slots.keys()];
    const results = await Promise.allSettled([...names.map((n) => this.release(n)), ...this.closingLogs.values()]);
    unregisterExitFlush(this.exitTarget);
    await this.pool.close();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** openLog's options a managed log does not take: refused like a typo, not ignored. */
function refuseOpenOnly(options: object): void {
  if ('dir' in options) throw new InvalidArgumentError("option dir is not for a managed log: it lives in root/name (pass the name to manager.log())");
  if ('flushOnExit' in options) throw new InvalidArgumentError('option flushOnExit is not for a managed log: the manager flushes every open log at exit');
}

/** Open a log manager over `root` (created if missing). No thread starts until a log is opened. */
export async function openLogManager(options: LogManagerOptions): Promise<LogManager> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('openLogManager takes an options object with at least { root }');
  if (typeof options.root !== 'string' || options.root.length === 0) throw new InvalidArgumentError(`option root must be a non-empty string, got ${shown(options.root)}`);
  if (options.root.includes('\0')) throw new InvalidArgumentError(`option root must not contain a NUL character, got ${shown(options.root)}`);
  refuseOpenOnly(options);
  const posInt = (k: 'writers' | 'maxOpenLogs' | 'idleCloseMs' | 'turnBytes', min: number) => {
    const v = options[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 2 ** 31 - 1)) {
      throw new InvalidArgumentError(`option ${k} must be an integer from ${min}, got ${shown(v)}`);
    }
  };
  posInt('writers', 1);
  posInt('maxOpenLogs', 1);
  posInt('idleCloseMs', 1);
  posInt('turnBytes', 4096);
  if (options.onLimit !== undefined && options.onLimit !== 'evict' && options.onLimit !== 'error') {
    throw new InvalidArgumentError(`option onLimit must be 'evict' or 'error', got ${shown(options.onLimit)}`);
  }
  return new LogManager(options);
}
