/**
 * The log's directory at open: resolved once to its real, absolute path (so a relative dir, a
 * symlink and a later process.chdir() all name the same log), created durably (each new directory
 * fsynced into its parent), and system errors met while opening turned into LogOpenError.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir, LogOpenError, mkdirDurable, shardDirName, ShardlogError } from '@shardlog/workers';

/** Create `dir` if needed (durably) and return its real absolute path. */
export function prepareLogDir(dir: string): string {
  const abs = path.resolve(dir);
  try {
    mkdirDurable(abs);
    if (!fs.statSync(abs).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, '${abs}'`), { code: 'ENOTDIR', syscall: 'mkdir', path: abs });
    return fs.realpathSync(abs);
  } catch (e) {
    throw asOpenError(e, abs);
  }
}

/** Create the shard directories of a new log, and make their entries durable (one fsync of `dir`). */
export function createShardDirs(dir: string, shards: number): void {
  let created = false;
  for (let s = 0; s < shards; s++) {
    if (fs.mkdirSync(path.join(dir, shardDirName(s)), { recursive: true }) !== undefined) created = true;
  }
  if (created) fsyncDir(dir);
}

/** A system error met while opening (EROFS, EACCES, ENOTDIR, EEXIST...) as a LogOpenError; anything else as is. */
export function asOpenError(e: unknown, dir: string): unknown {
  if (e instanceof ShardlogError || !(e instanceof Error)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return e;
  return new LogOpenError(dir, `${code}: ${hint(code)} (${e.message})`, { cause: e });
}

function hint(code: string): string {
  switch (code) {
    case 'EROFS':
      return 'the file system is read-only';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
    case 'EEXIST':
      return 'the path (or a part of it) is not a directory';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space left';
    default:
      return 'system error';
  }
}
