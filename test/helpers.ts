/** Test helpers: throwaway log directories, and small utilities shared by the suites. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh empty directory, removed after the suite. */
export function tmpDir(prefix = 'shardlog-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** A log directory path inside a fresh temp dir (not created). */
export function logDir(name = 'log'): string {
  return path.join(tmpDir(), name);
}

/** Segment files of a shard, oldest first. */
export function segmentFiles(dir: string, shard = 0): string[] {
  const sdir = path.join(dir, String(shard).padStart(3, '0'));
  if (!fs.existsSync(sdir)) return [];
  return fs
    .readdirSync(sdir)
    .filter((n) => /^\d{20}\.(wal|log)$/.test(n))
    .sort()
    .map((n) => path.join(sdir, n));
}

export const REPO_ROOT = path.resolve(import.meta.dirname, '..');
