/**
 * The bench package's standalone tools (ab-append, encryption, many-logs, durable-trace, ship): --help
 * prints the usage and exits 0 without running anything; an unknown option, a missing or bad value
 * prints one line saying what is wrong and the usage, exits 2, and never shows a stack trace.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../packages/bench/dist');

function run(tool: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(DIST, `${tool}.js`), ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const TOOLS = ['ab-append', 'encryption', 'many-logs', 'durable-trace', 'ship'];

describe('bench tools', () => {
  it.each(TOOLS)('%s --help prints its usage and exits 0', (tool) => {
    for (const flag of ['--help', '-h']) {
      const r = run(tool, [flag]);
      expect(r.code, `${tool} ${flag}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: node packages/bench/dist/${tool}\\.js`));
      expect(r.stderr).toBe('');
    }
  });

  const bad: [string, string[], RegExp][] = [
    ['ab-append', [], /both --a and --b are required/],
    ['ab-append', ['--a', 'no-such.js', '--b', 'no-such.js'], /no such file: no-such\.js/],
    ['ab-append', ['--a', path.join(DIST, 'cli.js'), '--b', path.join(DIST, 'cli.js'), '--shapes', 'ascii,wide'], /unknown shape "wide"/],
    ['ab-append', ['--bogus'], /Unknown option '--bogus'/],
    ['encryption', ['--n', 'abc'], /--n must be an integer of at least 1, got "abc"/],
    ['encryption', ['--reps', '1.5'], /--reps must be an integer/],
    ['many-logs', ['--logs', '1,x'], /--logs must be a comma-separated list of positive integers/],
    ['many-logs', ['--entries', '0'], /--entries must be an integer of at least 1/],
    ['many-logs', ['--dir', '/no/such/dir'], /--dir: no such directory/],
    ['durable-trace', ['--rate', '0'], /--rate must be a number of at least 1/],
    ['durable-trace', ['--seconds'], /argument missing/],
    ['ship', ['--rate', 'fast'], /--rate must be a number of at least 1, got "fast"/],
    ['ship', ['extra'], /Unexpected argument 'extra'|positional/i],
  ];
  it.each(bad)('%s %j: a clear line and the usage, exit 2', (tool, args, message) => {
    const r = run(tool, args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
    expect(r.stderr).toContain(`Usage: node packages/bench/dist/${tool}.js`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe('');
  });
});
