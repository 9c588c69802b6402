/**
 * The log's directory at open: resolved once to its real, absolute path (so a relative dir, a
 * symlink and a later process.chdir() all name the same log), created durably (each new directory
 * fsynced into its parent), and system errors met while opening turned into LogOpenError.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptLogError, fsyncDir, LogFormatError, LogOpenError, mkdirDurable, shardDirName, ShardlogError } from '@shardlog/workers';

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

/**
 * The shards below `shards` whose directory is missing while another shard's directory holds a
 * segment: a directory deleted from a log that has entries. (A new log's shard directories are made
 * right after its manifest; a crash in between leaves some missing but no segment anywhere: that
 * log is sound and empty, and its directories are made at open.) Its entries are lost and, the log
 * not knowing the highest seq they held, their seqs could be given out again.
 */
export function missingShardDirs(dir: string, shards: number): number[] {
  const missing: number[] = [];
  let entries = false;
  for (let s = 0; s < shards; s++) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(dir, shardDirName(s)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw new LogFormatError(path.join(dir, shardDirName(s)), 'a shard directory name taken by something that is not a directory');
      if (code !== 'ENOENT') throw e;
      missing.push(s);
      continue;
    }
    entries ||= names.some((n) => SEGMENT_FILE.test(n));
  }
  return entries ? missing : [];
}

const SEGMENT_FILE = /^\d{20}\.(wal|log)$/;

/** The error for missingShardDirs' first shard. */
export function missingShardError(dir: string, shards: number, missing: number[]): CorruptLogError {
  const d = path.join(dir, shardDirName(missing[0]));
  return new CorruptLogError(
    d,
    0,
    `the shard directory is missing (the log has ${shards} shards${missing.length > 1 ? `; ${missing.length} directories are missing` : ''}, and entries in the others): ` +
      `its entries are lost, and the seqs they held could be given out again. Restore it; or, to go on without its entries, create it empty (mkdir ${d})`,
  );
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
