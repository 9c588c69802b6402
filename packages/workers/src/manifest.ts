/**
 * The log's manifest (shardlog.json: format version, record format, shard count, creation time and
 * the log's id) and the durable-file helpers it is written with: a manifest is written to a temp
 * file, fsynced, renamed over the old one, and the directory fsynced, so a crash leaves either the
 * old manifest or the new one, never a torn one. Reading it checks every field: anything else is a
 * LogFormatError naming the file, never a crash further on.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LogFormatError } from './errors.js';
import type { Format } from './record-layout.js';

export const MANIFEST_FILE = 'shardlog.json';
export const MANIFEST_VERSION = 1;
/** Most shards a log can have (the shards option's upper bound; shard directories are named with 3 digits). */
export const MAX_SHARDS = 256;

export interface Manifest {
  shardlog: number;
  format: Format;
  shards: number;
  created: string;
  /** A random UUID naming this log (missing in manifests written before it existed). */
  id?: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A new manifest, with a fresh id. */
export function newManifest(format: Format, shards: number): Manifest {
  return { shardlog: MANIFEST_VERSION, format, shards, created: new Date().toISOString(), id: randomUUID() };
}

/** Check a parsed manifest; a description of the first problem, or undefined if it is sound. */
function manifestProblem(m: unknown): string | undefined {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return `manifest must be a JSON object, got ${m === null ? 'null' : Array.isArray(m) ? 'an array' : typeof m}`;
  const o = m as Record<string, unknown>;
  if (o.shardlog === undefined) return 'manifest has no "shardlog" (format version) field';
  if (o.shardlog !== MANIFEST_VERSION) return `manifest version ${JSON.stringify(o.shardlog)} is not supported (this build reads ${MANIFEST_VERSION})`;
  if (o.format !== 'framed' && o.format !== 'lines') return `manifest field "format" must be 'framed' or 'lines', got ${JSON.stringify(o.format) ?? 'nothing'}`;
  if (typeof o.shards !== 'number' || !Number.isInteger(o.shards) || o.shards < 1 || o.shards > MAX_SHARDS) {
    return `manifest field "shards" must be an integer from 1 to ${MAX_SHARDS}, got ${JSON.stringify(o.shards) ?? 'nothing'}`;
  }
  if (typeof o.created !== 'string') return `manifest field "created" must be a string, got ${JSON.stringify(o.created) ?? 'nothing'}`;
  if (o.id !== undefined && (typeof o.id !== 'string' || !UUID_RE.test(o.id))) return `manifest field "id" must be a UUID, got ${JSON.stringify(o.id)}`;
  return undefined;
}

/** The manifest of the log in `dir`, or undefined if it has none. A bad one is a LogFormatError naming the file. */
export function readManifest(dir: string): Manifest | undefined {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EISDIR') throw new LogFormatError(file, 'the manifest is a directory');
    throw e;
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new LogFormatError(file, 'manifest is not valid JSON');
  }
  const problem = manifestProblem(m);
  if (problem) throw new LogFormatError(file, problem);
  return m as Manifest;
}

/** Write the manifest of the log in `dir`, durably. */
export function writeManifest(dir: string, m: Manifest): void {
  writeFileDurable(path.join(dir, MANIFEST_FILE), JSON.stringify(m, null, 2) + '\n');
}

/** Write a file atomically and durably: temp file, fsync, rename, fsync the directory. */
export function writeFileDurable(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
  const fd = fs.openSync(tmp, 'wx');
  try {
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * mkdir -p that makes what it creates durable: each directory it created is fsynced into its
 * parent. Returns whether anything was created. Written out (not mkdirSync's `recursive`): that
 * reports ENOENT for what is really EROFS or EACCES, and loops forever where mkdir says ENOENT
 * under a parent that exists (/proc); one mkdir per missing directory throws the real error.
 */
export function mkdirDurable(dir: string): boolean {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      fs.mkdirSync(missing[i]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(missing[i], { throwIfNoEntry: false })?.isDirectory()) continue; // made meanwhile (a race); a dangling symlink keeps its EEXIST
      throw e;
    }
    fsyncDir(path.dirname(missing[i]));
  }
  return missing.length > 0;
}
