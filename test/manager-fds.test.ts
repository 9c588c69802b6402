/**
 * Under a low open-file limit (ulimit -n 256 in a child process), a log manager writing 300 logs of
 * 2 shards each (rolling segments) never fails a log with EMFILE: its default maxOpenLogs comes from
 * the limit, and the least recently used logs are closed and reopened as needed.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, readAll, tmpDir } from './helpers.js';

const LOGS = 300;

describe('log manager: open-file limit', () => {
  it(`writes ${LOGS} logs under ulimit -n 256 without EMFILE`, { timeout: 60_000 }, () => {
    const root = tmpDir();
    const r = spawnSync('bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${fixture('manager-many-fds.mjs')}" "${root}" ${LOGS}`], { encoding: 'utf8', timeout: 55_000 });
    expect(r.stderr).not.toMatch(/EMFILE/);
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim()) as { logsOpened: number; logsEvicted: number; maxOpen: number; entries: number; list: number };
    expect(summary.list).toBe(LOGS);
    expect(summary.entries).toBe(LOGS * 3 * 40);
    expect(summary.logsEvicted).toBeGreaterThan(0); // the limit forced closes: the test did reach it
    expect(summary.maxOpen).toBeLessThan(LOGS);
    for (const k of [0, 149, LOGS - 1]) {
      const texts = readAll(path.join(root, `log-${k}`)).map((e) => e.text);
      expect(texts).toHaveLength(3 * 40);
      expect(new Set(texts).size).toBe(texts.length);
    }
  });
});
