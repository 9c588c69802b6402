/**
 * The manifest at open, and rebuilding a lost one. openLog checks an existing manifest against the
 * options, gives an older one (without an id) its id, creates one for a new log, and refuses to
 * create one over segments that are already there: a log whose manifest is lost must not start
 * again from seq 1 (readers would see duplicates). rebuildManifest derives it from the files.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  InvalidArgumentError,
  listSegments,
  LogFormatError,
  readSegmentHeader,
  SEGMENT_FLAG_ENCRYPTED,
  MANIFEST_FILE,
  MAX_SHARDS,
  newManifest,
  readManifest,
  shardDirName,
  writeManifest,
  type Format,
  type Manifest,
} from '@shardlog/workers';
import { acquireLock } from './lock.js';
import { asOpenError, createShardDirs, missingShardDirs, missingShardError } from './log-dir.js';
import { defaultShards } from './options.js';

const SEGMENT_NAME = /^\d{20}\.(wal|log)$/;
const SHARD_DIR_NAME = /^\d{3}$/;

/** What the log directory holds besides a manifest: shard directories, and segment files (by extension). */
function existingLayout(dir: string): { shardDirs: number[]; wal: number; log: number; stray: string[] } {
  const out = { shardDirs: [] as number[], wal: 0, log: 0, stray: [] as string[] };
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    if (d.isDirectory() && SHARD_DIR_NAME.test(d.name)) {
      out.shardDirs.push(Number(d.name));
      for (const n of fs.readdirSync(path.join(dir, d.name))) {
        const m = SEGMENT_NAME.exec(n);
        if (m) out[m[1] as 'wal' | 'log']++;
      }
    } else if (SEGMENT_NAME.test(d.name)) {
      out.stray.push(d.name);
    }
  }
  out.shardDirs.sort((a, b) => a - b);
  return out;
}

/**
 * The manifest of the log being opened in `dir` (real path, lock held): checked against the options,
 * created for a new log, upgraded with an id if it has none.
 */
export function manifestAtOpen(dir: string, format: Format, shardsOption: number | undefined, formatGiven = true): Manifest & { id: string } {
  const m = readManifest(dir);
  if (!m) return createManifest(dir, format, shardsOption);
  if (formatGiven && m.format !== format) throw new InvalidArgumentError(`log ${dir} was created with format '${m.format}', opened with '${format}'`);
  if (shardsOption !== undefined && shardsOption !== m.shards) {
    throw new InvalidArgumentError(`log ${dir} was created with ${m.shards} shards, opened with shards: ${shardsOption}`);
  }
  const missing = missingShardDirs(dir, m.shards);
  if (missing.length > 0) throw missingShardError(dir, m.shards, missing);
  // none missing, or some missing while no shard has a segment (a crash right after the manifest of a
  // new log was written): make them now, so that every shard has its directory before any entry
  try {
    createShardDirs(dir, m.shards);
  } catch (e) {
    throw asOpenError(e, dir);
  }
  if (m.id) return m as Manifest & { id: string };
  const upgraded = { ...m, id: randomUUID() };
  try {
    writeManifest(dir, upgraded);
  } catch (e) {
    throw asOpenError(e, dir);
  }
  return upgraded;
}

function createManifest(dir: string, format: Format, shardsOption: number | undefined): Manifest & { id: string } {
  const found = existingLayout(dir);
  if (found.shardDirs.length > 0 || found.stray.length > 0) {
    throw new LogFormatError(
      path.join(dir, MANIFEST_FILE),
      `the manifest is missing, but the directory holds ${found.shardDirs.length} shard directories and ${found.wal + found.log + found.stray.length} segment files: ` +
        'opening would start the log again from seq 1 over them. Rebuild the manifest from the segments with rebuildManifest(dir) ' +
        '(or `shardlog recover --rebuild-manifest DIR`), or remove the shard directories if their contents are not wanted',
    );
  }
  const m = newManifest(format, shardsOption ?? defaultShards()) as Manifest & { id: string };
  try {
    // the manifest first: a crash before the shard directories exist leaves a sound, empty log
    writeManifest(dir, m);
    createShardDirs(dir, m.shards);
  } catch (e) {
    throw asOpenError(e, dir);
  }
  return m;
}

/**
 * Write the manifest of a log whose manifest is missing or unreadable, derived from its files: the
 * record format from the segments' extensions (.wal framed, .log lines), the shard count from the
 * shard directories (000, 001, ... with no gap). Refuses (LogFormatError) when that is ambiguous:
 * no segments, both kinds, a gap in the shard directories, segments outside them. Refuses
 * (InvalidArgumentError) when the log has a sound manifest. Takes the log's lock while it works;
 * the new manifest keeps the log's id when it is given (`options.id`) or the damaged manifest still
 * shows it, else it gets a new one (refused for an encrypted log: its keys are bound to the id).
 * Returns it.
 */
export function rebuildManifest(dir: string, options: { id?: string } = {}): Manifest & { id: string } {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('rebuildManifest takes the log directory');
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('rebuildManifest options must be an object ({ id })');
  if (options.id !== undefined && (typeof options.id !== 'string' || !UUID.test(options.id))) {
    throw new InvalidArgumentError(`rebuildManifest: id must be the log's UUID (from its old shardlog.json), got ${JSON.stringify(options.id)}`);
  }
  const abs = path.resolve(dir);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InvalidArgumentError(`no log at ${abs} (no such directory)`);
    throw asOpenError(e, abs);
  }
  let release: () => void;
  try {
    release = acquireLock(real);
  } catch (e) {
    throw asOpenError(e, real);
  }
  try {
    const file = path.join(real, MANIFEST_FILE);
    let sound: Manifest | undefined;
    try {
      sound = readManifest(real);
    } catch (e) {
      if (!(e instanceof LogFormatError)) throw e; // a damaged manifest is what this is for
    }
    if (sound) throw new InvalidArgumentError(`log ${real} has a sound manifest (${file}): nothing to rebuild`);
    const m = newManifest(derivedFormat(real), derivedShards(real));
    const id = options.id ?? salvagedId(file);
    if (id !== undefined) m.id = id;
    else if (hasEncryptedSegment(real, m.shards)) {
      throw new LogFormatError(
        file,
        "cannot rebuild: the segments are encrypted and their keys are bound to the log's id, which the manifest held. " +
          'Pass it: rebuildManifest(dir, { id }) or `shardlog recover --rebuild-manifest --id UUID` (the id is in any copy of the old shardlog.json, and in the dedup ids of a shipped stream)',
      );
    }
    writeManifest(real, m);
    return m as Manifest & { id: string };
  } finally {
    release();
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The id a damaged manifest still shows (`"id": "<uuid>"` anywhere in its text), if any. */
function salvagedId(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
  const m = /"id"\s*:\s*"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"/i.exec(text);
  return m ? m[1] : undefined;
}

/** Does any framed segment of the log carry the encrypted flag in its header? */
function hasEncryptedSegment(dir: string, shards: number): boolean {
  for (let shard = 0; shard < shards; shard++) {
    const segs = listSegments(dir, shard, 'framed');
    for (const [i, seg] of segs.entries()) {
      let h: ReturnType<typeof readSegmentHeader>;
      try {
        h = readSegmentHeader(seg, i === segs.length - 1);
      } catch {
        continue; // not a header of ours: opening the log will say so
      }
      if (typeof h === 'object' && ((h.flags ?? 0) & SEGMENT_FLAG_ENCRYPTED) !== 0) return true;
    }
  }
  return false;
}

function derivedFormat(dir: string): Format {
  const found = existingLayout(dir);
  const file = path.join(dir, MANIFEST_FILE);
  if (found.stray.length > 0) throw new LogFormatError(file, `cannot rebuild: segment files outside any shard directory (${found.stray.slice(0, 3).join(', ')}): move them into their shard's directory first`);
  if (found.wal > 0 && found.log > 0) throw new LogFormatError(file, `cannot rebuild: the shard directories hold both framed (.wal, ${found.wal}) and lines (.log, ${found.log}) segments`);
  if (found.wal === 0 && found.log === 0) throw new LogFormatError(file, 'cannot rebuild: there are no segments to derive the format from (an empty log: remove its shard directories and open it afresh)');
  return found.wal > 0 ? 'framed' : 'lines';
}

function derivedShards(dir: string): number {
  const { shardDirs } = existingLayout(dir);
  const file = path.join(dir, MANIFEST_FILE);
  const n = shardDirs.length;
  if (n > MAX_SHARDS) throw new LogFormatError(file, `cannot rebuild: ${n} shard directories, more than ${MAX_SHARDS}`);
  for (let i = 0; i < n; i++) {
    if (shardDirs[i] !== i) throw new LogFormatError(file, `cannot rebuild: shard directory ${shardDirName(i)} is missing (found ${shardDirs.map(shardDirName).join(', ')})`);
  }
  return n;
}
