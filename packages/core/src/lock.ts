/**
 * The log directory's lock file: keeps a second process (or a second open in this one) out of a
 * log that is open. It holds the owner's pid; a lock whose pid no longer runs (a killed process)
 * is stale and is taken over, so a restart after SIGKILL is never blocked.
 *
 * Written by hand rather than with proper-lockfile: that one detects staleness by mtime (a killed
 * owner blocks a restart for its `stale` period, 10 s by default) and needs a timer to keep the lock fresh.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOCK_FILE, LogLockedError } from '@shardlog/workers';

const heldHere = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function acquireLock(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  const key = path.resolve(file);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        fs.writeSync(fd, `${process.pid}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      heldHere.add(key);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldHere.delete(key);
        try {
          fs.unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let pid = NaN;
    try {
      pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    const ours = pid === process.pid;
    if (Number.isInteger(pid) && pid > 0 && ((ours && heldHere.has(key)) || (!ours && alive(pid)))) {
      throw new LogLockedError(dir, pid);
    }
    // stale (owner gone, or an unreadable lock): take it over
    try {
      fs.unlinkSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  throw new LogLockedError(dir, -1);
}
