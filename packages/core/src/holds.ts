/**
 * Retention holds: files in `<dir>/holds/` that keep truncateBefore() from removing entries someone
 * still needs (a shipper that has not yet had them acknowledged elsewhere).
 *
 * A hold is `<dir>/holds/<name>.json`:
 *   { "holder": "<name>", "logId": "<the manifest's id>", "shipped": [seq of shard 0, seq of shard 1, ...], "updated": "<ISO time>" }
 * `shipped[s]` is the highest seq of shard s its holder is done with (0: none). Retention never
 * removes a segment of shard s that holds a seq above the lowest `shipped[s]` of all holds. Holds
 * are written atomically (temp file, fsync, rename, fsync the directory), so a reader in another
 * process sees the old hold or the new one, never a torn one; a hold that cannot be read stops
 * retention (LogFormatError) rather than being ignored. Delete the file to release a hold.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir, InvalidArgumentError, LogFormatError, writeFileDurable } from '@shardlog/workers';

export const HOLDS_DIR = 'holds';

export interface Hold {
  holder: string;
  logId?: string;
  /** Highest seq per shard the holder is done with (0: none). */
  shipped: number[];
  updated: string;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,100}$/;

/** The file of the hold named `name` in log directory `dir`. */
export function holdFile(dir: string, name: string): string {
  if (!NAME_RE.test(name) || name.startsWith('.')) throw new InvalidArgumentError(`a hold name is 1-100 of A-Z a-z 0-9 _ . - (not starting with '.'), got ${JSON.stringify(name)}`);
  return path.join(dir, HOLDS_DIR, `${name}.json`);
}

/** Write (or replace) a hold, atomically and durably. */
export function writeHold(dir: string, hold: Hold): void {
  const file = holdFile(dir, hold.holder);
  const holds = path.dirname(file);
  if (!fs.existsSync(holds)) {
    fs.mkdirSync(holds, { recursive: true });
    fsyncDir(dir); // the new holds/ entry itself
  }
  writeFileDurable(file, JSON.stringify(hold) + '\n');
}

/** Remove a hold (no error if there is none). */
export function removeHold(dir: string, name: string): void {
  fs.rmSync(holdFile(dir, name), { force: true });
}

/** Every hold of the log in `dir`. */
export function readHolds(dir: string): Hold[] {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(dir, HOLDS_DIR));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: Hold[] = [];
  for (const n of names.sort()) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    const file = path.join(dir, HOLDS_DIR, n);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    let h: Hold;
    try {
      h = JSON.parse(text) as Hold;
    } catch {
      throw new LogFormatError(file, 'retention hold is not valid JSON (delete it to release the hold)');
    }
    if (!h || !Array.isArray(h.shipped) || !h.shipped.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      throw new LogFormatError(file, 'retention hold has no valid "shipped" array (delete it to release the hold)');
    }
    out.push(h);
  }
  return out;
}

/** Per shard, the highest seq every hold is done with (Infinity: no hold). */
export function heldSeqs(holds: Hold[], shards: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < shards; s++) out.push(holds.reduce((m, h) => Math.min(m, h.shipped[s] ?? 0), Number.POSITIVE_INFINITY));
  return out;
}
