/**
 * follow() keeps the process alive while its consumer waits for the next entry, as durable() does
 * (the writer threads are unref'd): a script that only follows its log does not exit under it.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fixture, logDir } from './helpers.js';

describe('follow() and the event loop', () => {
  it('a process waiting only in follow() stays alive until the entry comes', () => {
    const r = spawnSync(process.execPath, [fixture('follow-only.mjs'), logDir()], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('1 from the timer\n');
  });
});
