/**
 * Log names of a log manager: which are allowed, and the directory each maps to. A name is one path
 * component of plain characters, so no name can reach outside the manager's root or collide with
 * the files shardlog keeps there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, MANIFEST_FILE } from '@shardlog/workers';

/** Longest log name, in UTF-8 bytes (a directory name must stay under the usual 255). */
export const MAX_LOG_NAME_BYTES = 200;

/** Why `name` is not a valid log name, or undefined if it is. */
function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `must be a string, got ${typeof name}`;
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name) > MAX_LOG_NAME_BYTES) return `must be at most ${MAX_LOG_NAME_BYTES} bytes (UTF-8)`;
  if (name.startsWith('.')) return "must not start with '.'";
  if (name.includes('..')) return "must not contain '..'";
  if (/[/\\]/.test(name)) return "must not contain '/' or '\\'";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'must not contain NUL or control characters';
  if (name.trim() !== name) return 'must not start or end with white space';
  // characters that do not show, or that reorder what follows them, would let two names look alike
  // in a listing (or a name look like another): bidi controls, zero-width spaces, line separators
  if (/[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\u2028\u2029]/.test(name)) return 'must not contain invisible or bidirectional control characters';
  // a lone surrogate would be written to the file system as U+FFFD: two names, one directory
  if (!name.isWellFormed()) return 'must be well-formed Unicode (it holds a lone surrogate)';
  // 'é' as one code point or as e + U+0301 looks the same but would be two logs (and one directory on
  // a file system that normalises names): one spelling only
  if (name.normalize('NFC') !== name) return "must be in Unicode normalization form C (use name.normalize('NFC'))";
  return undefined;
}

/** Check a log name; an InvalidArgumentError saying what is wrong with it. */
export function checkLogName(name: unknown): asserts name is string {
  const p = nameProblem(name);
  if (p) throw new InvalidArgumentError(`log name ${JSON.stringify(name)} ${p}`);
}

/** The directory of log `name` under `root` (checked to be a direct child of it). */
export function logDirOf(root: string, name: string): string {
  checkLogName(name);
  const dir = path.join(root, name);
  if (path.dirname(dir) !== root) throw new InvalidArgumentError(`log name ${JSON.stringify(name)} does not map to a directory directly under the root`);
  return dir;
}

/** Names of the logs under `root`: directories with a valid name that hold a manifest. */
export function listLogNames(root: string): string[] {
  let ents: fs.Dirent[];
  try {
    ents = fs.readdirSync(root, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const names: string[] = [];
  for (const d of ents) {
    if (!d.isDirectory() || nameProblem(d.name)) continue;
    if (fs.existsSync(path.join(root, d.name, MANIFEST_FILE))) names.push(d.name);
  }
  return names.sort();
}
