/**
 * `shardlog stress` without faults: several producer threads and the main thread append into the
 * same rings, the log is closed, and every appended entry must be read back exactly once, in its
 * producer's order, byte for byte. Also the command line: JSON report, exit codes, bad options.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStressArgs, runStress } from '@shardlog/cli/stress';
import { CLI, tmpDir } from './helpers.js';

describe('stress runner, clean runs', () => {
  it('proves every entry of 3 producers over 2 shards is there, in order, byte for byte', async () => {
    const r = await runStress({ entries: 30_000, producers: 2, shards: 2, seed: 1, size: { kind: 'uniform', min: 24, max: 400 } });
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.verification).toMatchObject({ ok: true, entriesRead: 30_000, producers: 3, acknowledged: 30_000, acknowledgedPresent: 30_000, lost: 0, duplicates: 0, corrupt: 0 });
    expect(r.throughput.entries).toBe(30_000);
    expect(r.latency.samples).toBeGreaterThan(0);
    expect(r.kept).toBe(false);
    expect(fs.existsSync(r.dir)).toBe(false);
  });

  it('keeps each appendMany batch within one reservation (half the ring) when entries are large', async () => {
    const r = await runStress({ entries: 3_000, producers: 1, shards: 2, seed: 7, api: 'many', size: { kind: 'heavy', min: 1024, max: undefined }, ringBytes: 64 * 1024 });
    expect(r.failures).toEqual([]);
    expect(r.verification).toMatchObject({ ok: true, entriesRead: 3_000, lost: 0, duplicates: 0 });
  });

  it('handles string entries, heavy-tailed sizes up to the largest entry, appendMany, and segment rotation', async () => {
    const parent = tmpDir();
    const r = await runStress({
      entries: 4_000,
      producers: 1,
      shards: 3,
      seed: 2,
      kind: 'string',
      api: 'many',
      size: { kind: 'heavy', min: 24, max: undefined },
      ringBytes: 64 * 1024,
      segmentBytes: 64 * 1024,
      dir: parent,
      keep: true,
    });
    expect(r.failures).toEqual([]);
    expect(r.config.maxEntryBytes).toBe(32 * 1024 - 16);
    expect(r.verification?.entriesRead).toBe(4_000);
    expect(r.throughput.segments).toBeGreaterThan(3);
    expect(path.dirname(r.dir)).toBe(parent);
    expect(fs.existsSync(path.join(r.dir, 'shardlog.json'))).toBe(true);
  });

  it('runs from the command line with a JSON report and exit code 0', () => {
    const p = spawnSync(process.execPath, [CLI, 'stress', '--entries', '5000', '--producers', '1', '--seed', '3', '--size', 'fixed:64', '--sync', 'ms:2', '--json', '--quiet'], { encoding: 'utf8' });
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    const r = JSON.parse(p.stdout);
    expect(r).toMatchObject({ ok: true, mode: 'clean', seed: 3, config: { size: 'fixed:64', sync: 'ms:2', producers: 1 } });
    expect(r.verification).toMatchObject({ ok: true, entriesRead: 5000, lost: 0 });
    expect(r.replay).toContain('--seed 3');
    for (const k of ['p50', 'p90', 'p99', 'p999', 'max']) expect(typeof r.latency[k]).toBe('number');
  });

  it('prints a plain progress line per second and a readable report when not on a terminal', () => {
    const p = spawnSync(process.execPath, [CLI, 'stress', '--duration', '1500ms', '--producers', '1', '--seed', '4', '--rate', '20k'], { encoding: 'utf8' });
    expect(p.status).toBe(0);
    expect(p.stderr).toMatch(/^\s+\d+\.\ds\s+[\d.]+ k? ?entries\/s .* acked .* durable lag .* ring-full waits/m);
    expect(p.stderr).not.toContain('\r');
    expect(p.stdout).toMatch(/^shardlog stress: PASS/);
    expect(p.stdout).toMatch(/0 lost, 0 duplicated, 0 out of order, 0 corrupt/);
  });

  it('rejects bad options with exit code 2 and a message naming the option', () => {
    const p = spawnSync(process.execPath, [CLI, 'stress', '--size', 'fixed:8'], { encoding: 'utf8' });
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/--size: size 8 is smaller than the 24-byte stress header/);
    expect(() => parseStressArgs(['--size', 'lognormal:5'])).toThrow(/--size/);
    expect(() => parseStressArgs(['--sync', 'sometimes'])).toThrow(/--sync/);
    expect(() => parseStressArgs(['--full-disk', '--writer-exit', '3'])).toThrow(/one fault mode/);
    expect(() => parseStressArgs(['--duration', '1s', '--entries', '5'])).toThrow(/not both/);
  });

  it('parses the compact forms', () => {
    const { opts } = parseStressArgs(['--size', 'heavy:64-1m', '--sync', 'bytes:64k', '--rate', '50k', '--duration', '10m', '--tear', '--seed', '9']);
    expect(opts).toMatchObject({
      size: { kind: 'heavy', min: 64, max: 1 << 20 },
      sync: { everyBytes: 65536 },
      rate: 50_000,
      durationMs: 600_000,
      tear: 'tail',
      killAt: 'random',
      seed: 9,
    });
    expect(parseStressArgs(['--kill-at']).opts.killAt).toBe('random');
    expect(parseStressArgs(['--kill-at', '300ms', '--entries', '100']).opts.killAt).toBe(300);
    expect(parseStressArgs(['--sync', 'ms:5']).opts.sync).toEqual({ everyMs: 5 });
  });
});
