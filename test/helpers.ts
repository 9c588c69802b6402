/**
 * The one helper module of the test suites, by concern:
 *   - throwaway directories: tmpDir, logDir (removed after the suite)
 *   - a log's files and content: segmentFiles, payload / writeLog (logs with known content), readAll,
 *     texts, records (the valid records of a segment file), flipByte, copyDir
 *   - child processes: fixture (a test/fixtures file), CLI / runCli (the `shardlog` binary),
 *     waitForLines (a child's stdout), projectDir / runModule (a script run as a user's project)
 *   - the README: readme()
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { openLog, readLogSync, type OpenOptions } from '@shardlog/core';
import { align8, checkRecord, FRAME_HEADER_BYTES, readSeq, SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES_V1 } from '@shardlog/workers';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..');

// ---- throwaway directories ----

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

// ---- a log's files and content ----

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

/** The payload of the i-th test entry: text of a length that varies with i (and a seed). */
export function payload(i: number, seed = 0): string {
  const n = ((i * 7919 + seed * 104729) % 97) + 1;
  return `e${i}:` + 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3).slice(0, n);
}

export interface Written {
  /** seq -> the payload appended with it */
  bySeq: Map<number, string>;
  seqs: number[];
}

/**
 * Open a log, append `count` entries (payload(i)), close it. Every 10 entries it waits until the
 * writers have written them (not synced: close() syncs once), so batches, and segments, are small.
 */
export async function writeLog(dir: string, count: number, opts: Partial<OpenOptions> = {}, seed = 0): Promise<Written> {
  const log = await openLog({ dir, shards: 1, segmentBytes: 4096, sync: 'none', ...opts });
  const bySeq = new Map<number, string>();
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) {
    const p = payload(i, seed);
    const seq = log.append(p);
    bySeq.set(seq, p);
    seqs.push(seq);
    if (i % 10 === 9) while (log.stats().entries < i + 1) await new Promise((r) => setImmediate(r));
  }
  await log.close();
  return { bySeq, seqs };
}

/** Every entry readLogSync returns, copied. */
export function readAll(dir: string, fromSeq = 0): { seq: number; shard: number; text: string }[] {
  return [...readLogSync({ dir, fromSeq })].map((e) => ({ seq: e.seq, shard: e.shard, text: e.text() }));
}

/** The text of every entry of the log, in seq order. */
export function texts(dir: string): string[] {
  return [...readLogSync({ dir })].map((e) => e.text());
}

export interface RecordAt {
  offset: number;
  len: number;
  /** aligned size on disk */
  size: number;
  seq: number;
  /** Format version 2: the frame holding the record, [frameStart, frameEnd) in the file. */
  frameStart?: number;
  frameEnd?: number;
}

/**
 * The valid records of a segment file, in file order (stops at the first bad one). Version-1 records
 * carry their own CRC; version-2 records are listed frame by frame (frame CRCs are the scanner's to
 * check: here only the frames' lengths are followed).
 */
export function records(file: string): RecordAt[] {
  const b = fs.readFileSync(file);
  const u8 = new Uint8Array(b.buffer, b.byteOffset, b.length);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.length);
  const out: RecordAt[] = [];
  if (b.length >= 10 && b.readUInt16LE(8) === 2) {
    for (let f = SEGMENT_HEADER_BYTES; f + FRAME_HEADER_BYTES <= b.length; ) {
      const flen = b.readUInt32LE(f);
      const body = b.readUInt32LE(f + 28);
      if (flen !== FRAME_HEADER_BYTES + body || f + align8(flen) > b.length) break;
      const frameEnd = f + align8(flen);
      for (let off = f + FRAME_HEADER_BYTES; off < f + flen; ) {
        const len = dv.getInt32(off, true);
        out.push({ offset: off, len, size: align8(len), seq: readSeq(dv, off), frameStart: f, frameEnd });
        off += align8(len);
      }
      f = frameEnd;
    }
    return out;
  }
  for (let off = SEGMENT_HEADER_BYTES_V1; off < b.length; ) {
    const len = checkRecord(u8, dv, off, b.length);
    if (len < 0 || off + align8(len) > b.length) break;
    out.push({ offset: off, len, size: align8(len), seq: readSeq(dv, off) });
    off += align8(len);
  }
  return out;
}

/** Every record of every segment of `shard` has zero bytes from its end to the next multiple of 8. */
export function paddingIsZero(dir: string, shard = 0): boolean {
  for (const file of segmentFiles(dir, shard)) {
    const b = fs.readFileSync(file);
    for (const r of records(file)) {
      for (let i = r.offset + r.len; i < r.offset + r.size; i++) if (b[i] !== 0) return false;
    }
  }
  return true;
}

export function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, offset);
    b[0] ^= 0x5a;
    fs.writeSync(fd, b, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** Copy a whole log directory (to run one damage per copy). */
export function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
}

/** A copy of the log directory `from` in a fresh temp dir (each damage case works on its own copy). */
export function freshCopy(from: string): string {
  const d = path.join(tmpDir(), 'log');
  copyDir(from, d);
  return d;
}

/** Every entry of a log as { seq, text }, in seq order. */
export function seqTexts(dir: string): { seq: number; text: string }[] {
  return readAll(dir).map((e) => ({ seq: e.seq, text: e.text }));
}

// ---- child processes ----

/** The path of a file in test/fixtures. */
export function fixture(name: string): string {
  return path.join(import.meta.dirname, 'fixtures', name);
}

/** The `shardlog` binary, as the @shardlog/cli package declares it. */
export const CLI = ((): string => {
  const pkgJson = createRequire(import.meta.url).resolve('@shardlog/cli/package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { bin: { shardlog: string } };
  return path.join(path.dirname(pkgJson), pkg.bin.shardlog);
})();

/** Run the shardlog CLI to completion. */
export function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Resolves with a child's stdout lines once `until` is true of them (rejects if it exits first). */
/**
 * The crash tests' round: run a writer child (node SCRIPT ...args), collect every line it prints,
 * wait until `ready` lines aside it has printed `after` lines, SIGKILL it, and return all its lines
 * (what it reported whole before it died: the reports a test may rely on; a half-printed last line
 * is not one) and how it ended.
 */
export async function killAfterLines(script: string, args: string[], after: number, env: Record<string, string> = {}): Promise<{ lines: string[]; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const all: string[] = [];
  let tail = '';
  child.stdout.on('data', (d: Buffer) => {
    const parts = (tail + d.toString()).split('\n');
    tail = parts.pop()!;
    all.push(...parts);
  });
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  await waitForLines(child, (lines) => lines.filter((l) => !l.startsWith('ready')).length >= after);
  child.kill('SIGKILL');
  await closed;
  return { lines: all, signal: child.signalCode };
}

export function waitForLines(p: ChildProcess, until: (lines: string[]) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const lines: string[] = [];
    const check = () => {
      if (until(lines)) {
        cleanup();
        resolve(lines);
      }
    };
    const onData = (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
      check();
    };
    const onErr = (d: Buffer) => (err += d.toString());
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child exited (${code}) before the expected output; stdout: ${lines.slice(-5).join(' | ')}; stderr: ${err}`));
    };
    const cleanup = () => {
      p.stdout!.off('data', onData);
      p.stderr?.off('data', onErr);
      p.off('exit', onExit);
    };
    p.stdout!.on('data', onData);
    p.stderr?.on('data', onErr);
    p.on('exit', onExit);
    check();
  });
}

export interface ChildResult {
  cwd: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * A fresh working directory in which `import '@shardlog/core'`, 'pino', 'prom-client' and
 * './examples/...' resolve to this repository (a node_modules and an examples symlink), the way
 * they would in a user's project.
 */
export function projectDir(): string {
  const dir = tmpDir('shardlog-project-');
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  fs.symlinkSync(path.join(REPO_ROOT, 'examples'), path.join(dir, 'examples'), 'dir');
  return dir;
}

/** Write `source` as an ES module in a fresh project directory and run it with node. */
export async function runModule(source: string, env: Record<string, string> = {}, cwd = projectDir()): Promise<ChildResult> {
  const file = path.join(cwd, `script-${process.hrtime.bigint()}.mjs`);
  fs.writeFileSync(file, source);
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { cwd, code, signal, stdout, stderr };
}

// ---- the README ----

/** The repository's README.md. */
export function readme(): string {
  return fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
}
