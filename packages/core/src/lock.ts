/**
 * The log directory's lock file: exactly one open of a log at a time, across processes and across
 * the threads of one process. The file holds three lines: the owner's pid, its start time (field 22
 * of /proc/<pid>/stat, with the boot id; '-' where /proc is missing) and a random token.
 *
 * Taking it never exposes a half-written lock: the record is written to a temp file of our own and
 * fsynced first, then link()ed to the lock name (EEXIST: someone holds it). A lock whose owner no
 * longer runs (no such pid, or that pid now runs with another start time) is stale and is taken over
 * by rename()ing our temp file over it. Only one process may replace a given stale lock: it must
 * first create the claim file `shardlog.lock.claim-<token of that lock>` (again by link(), so
 * exactly one racer gets it), then check that the lock still holds that token, then rename. A
 * claimant that died in between leaves a claim that is stale in turn; it is taken over by claiming
 * the dead claimant's token (whoever does may replace the lock it was after, or the one it wrote).
 * After the rename the lock is read back to confirm it holds our token.
 *
 * Written by hand rather than with proper-lockfile: that one detects staleness by mtime (a killed
 * owner blocks a restart for its `stale` period, 10 s by default) and needs a timer to keep the lock fresh.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOCK_FILE, LogLockedError } from '@shardlog/workers';

export interface LockHolder {
  pid: number;
  /** Boot id and start time in clock ticks, or undefined where /proc is missing. */
  start: string | undefined;
  token: string;
}

const CLAIM_PREFIX = `${LOCK_FILE}.claim-`;
const TMP_SUFFIX = '.tmp';
/** How long to wait for a live claimant to finish taking over a stale lock. */
const CLAIM_WAIT_MS = 5_000;

let bootId: string | null | undefined;

function readBootId(): string | null {
  if (bootId === undefined) {
    try {
      bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = null;
    }
  }
  return bootId;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The start time of process `pid`: a string, null if no such process runs (or it is a zombie),
 * undefined if it cannot be told (no /proc, or /proc hides that process).
 */
export function processStartTime(pid: number): string | null | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    if (!fs.existsSync('/proc/self/stat')) return undefined;
    return alive(pid) ? undefined : null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields resume after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // a zombie (Z: killed, not yet reaped by its parent) or a dying process (X) whose threads have all
  // exited runs no more code and has closed its files: it holds nothing, though its pid is still
  // taken. While the leader is Z and other threads are still exiting (Threads above 1, a moment after
  // a SIGKILL) one of them may still be inside a write(): the lock is held until they are gone.
  // (And a leader that is a zombie while its other threads run on is alive.)
  if ((fields[0] === 'Z' || fields[0] === 'X') && threadCount(pid) <= 1) return null;
  const ticks = fields[22 - 3];
  if (!ticks || !/^\d+$/.test(ticks)) return undefined;
  const boot = readBootId();
  return boot ? `${boot}/${ticks}` : ticks;
}

/** Threads of process `pid` (/proc/PID/status), 0 if it cannot be read. */
function threadCount(pid: number): number {
  try {
    const m = /^Threads:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

let ownStart: string | null | undefined;
function myStart(): string | undefined {
  if (ownStart === undefined) ownStart = processStartTime(process.pid) ?? null;
  return ownStart ?? undefined;
}

export function formatHolder(h: LockHolder): string {
  return `${h.pid}\n${h.start ?? '-'}\n${h.token}\n`;
}

/** Parse a lock record; undefined if it is not one. A lock of an older version holds only the pid. */
export function parseHolder(text: string): LockHolder | undefined {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const pid = Number(lines[0]);
  if (!/^\d+$/.test(lines[0] ?? '') || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (lines.length === 1) return { pid, start: undefined, token: '' };
  if (lines.length !== 3 || !lines[1] || !/^[0-9a-f-]{36}$/.test(lines[2])) return undefined;
  return { pid, start: lines[1] === '-' ? undefined : lines[1], token: lines[2] };
}

/** Does the process that wrote this lock record still run? */
export function holderAlive(h: LockHolder): boolean {
  // our pid: ours if it has our start time (a record without a token is an older version's, of a process before us)
  if (h.pid === process.pid) return h.token !== '' && (h.start === undefined || h.start === myStart());
  const st = processStartTime(h.pid);
  if (st === null) return false;
  if (st !== undefined && h.start !== undefined) return st === h.start;
  return alive(h.pid);
}

/** What names a lock (or claim) record: its token, or for a record without one, a hash of its bytes. */
function keyOf(text: string, h: LockHolder | undefined): string {
  return h && h.token ? h.token : createHash('sha256').update(text).digest('hex').slice(0, 32);
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function writeSynced(file: string, text: string): void {
  const fd = fs.openSync(file, 'wx');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

function linked(from: string, to: string): boolean {
  try {
    fs.linkSync(from, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

type ClaimResult = { keys: Set<string> } | { wait: LockHolder };

/**
 * Claim the right to replace the stale lock named `key`: link our record to its claim file. If a
 * live process holds that claim, wait for it; if a dead one does, claim that one's key in turn.
 * Returns the keys of the lock records we may now replace. Claims made are pushed to `held`.
 */
function claim(dir: string, key: string, tmp: string, held: string[]): ClaimResult {
  const keys = new Set<string>();
  let k = key;
  for (let depth = 0; depth < 16; ) {
    keys.add(k);
    const file = path.join(dir, CLAIM_PREFIX + k);
    if (linked(tmp, file)) {
      held.push(file);
      return { keys };
    }
    const text = readText(file);
    if (text === undefined) continue; // given up meanwhile: try again
    const h = parseHolder(text);
    if (h && holderAlive(h)) return { wait: h };
    k = keyOf(text, h);
    depth++;
  }
  throw new Error(`internal: more than 16 dead claimants of the lock in ${dir}`);
}

function dropClaims(held: string[]): void {
  for (const f of held.splice(0)) fs.rmSync(f, { force: true });
}

/** Link or rename our record (in `tmp`) to the lock file; throws LogLockedError if a live process holds it. */
function takeLock(dir: string, file: string, tmp: string): void {
  const held: string[] = [];
  const deadline = Date.now() + CLAIM_WAIT_MS;
  try {
    for (;;) {
      if (linked(tmp, file)) return;
      const text = readText(file);
      if (text === undefined) continue; // released meanwhile
      const h = parseHolder(text);
      if (h && holderAlive(h)) throw new LogLockedError(dir, file, h.pid);
      // stale (its owner is gone, or it is not a lock record): only the claimant may replace it
      const c = claim(dir, keyOf(text, h), tmp, held);
      if ('wait' in c) {
        if (Date.now() > deadline) throw new LogLockedError(dir, file, c.wait.pid, 'it is taking over a stale lock');
        sleep(2);
        continue;
      }
      const now = readText(file);
      if (now !== undefined && c.keys.has(keyOf(now, parseHolder(now)))) {
        fs.renameSync(tmp, file);
        return;
      }
      dropClaims(held); // someone else replaced or released it: look again
    }
  } finally {
    dropClaims(held);
  }
}

/** Remove claim and temp files that dead processes left behind (only while we hold the lock). */
function sweep(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(`${LOCK_FILE}.`)) continue;
    const f = path.join(dir, name);
    try {
      const h = parseHolder(fs.readFileSync(f, 'utf8'));
      const old = Date.now() - fs.statSync(f).mtimeMs > 60_000;
      if (h ? !holderAlive(h) : old && name.endsWith(TMP_SUFFIX)) fs.rmSync(f, { force: true });
    } catch {
      /* gone meanwhile */
    }
  }
}

/**
 * Take the lock of the log in `dir` (an absolute, real path), or throw LogLockedError naming the
 * holder. Returns the release function (idempotent): it removes the lock file if it is still ours.
 */
export function acquireLock(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, start: myStart(), token: randomUUID() };
  const tmp = path.join(dir, `${LOCK_FILE}.${me.token}${TMP_SUFFIX}`);
  writeSynced(tmp, formatHolder(me));
  try {
    takeLock(dir, file, tmp);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const got = readText(file);
  if (got === undefined || parseHolder(got)?.token !== me.token) {
    // cannot happen while every taker follows the protocol above; refuse rather than share the log
    const h = got === undefined ? undefined : parseHolder(got);
    throw new LogLockedError(dir, file, h?.pid ?? -1, 'the lock changed hands while it was being taken');
  }
  sweep(dir);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const text = readText(file);
    if (text !== undefined && parseHolder(text)?.token === me.token) fs.rmSync(file, { force: true });
  };
}
