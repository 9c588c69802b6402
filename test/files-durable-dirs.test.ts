/**
 * The directory itself is durable: every directory openLog or a writer thread creates is fsynced
 * into its parent, and the manifest is written temp file, fsync, rename, fsync directory. Checked
 * on the fs calls of a child process, traced in every thread by fixtures/fs-trace.mjs.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tmpDir } from './helpers.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');

type Ev = { t: number; op: string; path?: string; created?: string | null; fd?: number; from?: string; to?: string };

/** Run fixtures/open-append-close.mjs under the fs trace; its events, with each fsync's path filled in. */
async function traced(dir: string, shards: number): Promise<(Ev & { synced?: string })[]> {
  const trace = path.join(tmpDir(), 'trace.jsonl');
  const child = spawn(process.execPath, ['--import', path.join(FIXTURES, 'fs-trace.mjs'), path.join(FIXTURES, 'open-append-close.mjs'), dir, String(shards)], {
    env: { ...process.env, SHARDLOG_FS_TRACE: trace },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((r) => child.once('exit', r));
  expect(stderr).toBe('');
  expect(code).toBe(0);
  const fdPath = new Map<number, string>();
  return fs
    .readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Ev)
    .map((e) => {
      if (e.op === 'open') fdPath.set(e.fd!, path.resolve(e.path!));
      if (e.op === 'close') fdPath.delete(e.fd!);
      return e.op === 'fsync' ? { ...e, synced: fdPath.get(e.fd!) } : e;
    });
}

/** Directories each mkdir created (from the first one it made down to the one asked for). */
function createdDirs(e: Ev): string[] {
  if (e.op !== 'mkdir' || !e.created) return [];
  const out: string[] = [];
  for (let d = path.resolve(e.path!); ; d = path.dirname(d)) {
    out.push(d);
    if (d === path.resolve(e.created)) return out;
  }
}

/** Every directory created is followed (in the same thread) by an fsync of its parent. */
function expectParentsSynced(events: (Ev & { synced?: string })[]): string[] {
  const made: string[] = [];
  events.forEach((e, i) => {
    for (const d of createdDirs(e)) {
      made.push(d);
      const later = events.slice(i + 1).find((x) => x.t === e.t && x.op === 'fsync' && x.synced === path.dirname(d));
      expect(later, `no fsync of ${path.dirname(d)} after creating ${d} (thread ${e.t})`).toBeDefined();
    }
  });
  return made;
}

describe('directories and the manifest are made durable', () => {
  it('a new log: its directory (and new parents) fsynced into their parents, each shard directory into the log directory', async () => {
    const base = fs.realpathSync(tmpDir());
    const dir = path.join(base, 'a', 'b', 'log');
    const events = await traced(dir, 2);
    const made = expectParentsSynced(events);
    for (const d of [path.join(base, 'a'), path.join(base, 'a', 'b'), dir, path.join(dir, '000'), path.join(dir, '001')]) expect(made).toContain(d);
    // the manifest: a temp file fsynced, renamed into place, then the directory fsynced
    const manifest = path.join(dir, 'shardlog.json');
    const r = events.findIndex((e) => e.op === 'rename' && e.to === manifest);
    expect(r).toBeGreaterThan(0);
    const tmp = path.resolve(events[r].from!);
    expect(events.slice(0, r).some((e) => e.op === 'fsync' && e.synced === tmp)).toBe(true);
    expect(events.slice(r + 1).some((e) => e.op === 'fsync' && e.synced === dir)).toBe(true);
  });

  it('shard directories missing at open (an older version made them at the first write) are made then, each fsynced into the log directory', async () => {
    const dir = path.join(fs.realpathSync(tmpDir()), 'log');
    fs.mkdirSync(dir);
    // a log whose shard directories do not exist yet (an older version made them at the first write)
    fs.writeFileSync(path.join(dir, 'shardlog.json'), JSON.stringify({ shardlog: 1, format: 'framed', shards: 2, created: 'x', id: '6f1c1b9e-0d7e-4d55-9a43-1a3c55d2b7a1' }));
    const events = await traced(dir, 2);
    const made = expectParentsSynced(events);
    expect(made.sort()).toEqual([path.join(dir, '000'), path.join(dir, '001')]);
    // made by the open, before the writer threads start: every shard has its directory before any entry
    const firstWriterEvent = events.findIndex((e) => e.t > 0);
    for (const e of events.filter((x) => createdDirs(x).length > 0)) expect(events.indexOf(e)).toBeLessThan(firstWriterEvent < 0 ? Infinity : firstWriterEvent);
  });

  it('an older manifest gets its id durably: temp file fsynced, renamed over it, directory fsynced', async () => {
    const dir = path.join(fs.realpathSync(tmpDir()), 'log');
    fs.mkdirSync(path.join(dir, '000'), { recursive: true });
    const manifest = path.join(dir, 'shardlog.json');
    fs.writeFileSync(manifest, JSON.stringify({ shardlog: 1, format: 'framed', shards: 1, created: 'x' }));
    const events = await traced(dir, 1);
    const r = events.findIndex((e) => e.op === 'rename' && e.to === manifest);
    expect(r).toBeGreaterThan(0);
    const tmp = path.resolve(events[r].from!);
    expect(path.dirname(tmp)).toBe(dir);
    expect(events.slice(0, r).some((e) => e.op === 'fsync' && e.synced === tmp)).toBe(true);
    expect(events.slice(r + 1).some((e) => e.op === 'fsync' && e.synced === dir)).toBe(true);
    expect(JSON.parse(fs.readFileSync(manifest, 'utf8')).id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
