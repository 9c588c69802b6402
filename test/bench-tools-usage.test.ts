/**
 * The bench package's standalone tools (ab-append, encryption, many-logs, durable-trace, ship,
 * encoders, producers, profile-summary): --help prints the usage and exits 0 without running
 * anything; an unknown option, a missing or bad value prints one line saying what is wrong and the
 * usage, exits 2, and never shows a stack trace. The harness's --render of a file that is missing or
 * not a saved report: one line, exit 2.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../packages/bench/dist');

function run(tool: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(DIST, `${tool}.js`), ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const TOOLS = ['ab-append', 'encryption', 'many-logs', 'durable-trace', 'ship', 'encoders', 'producers', 'profile-summary'];

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
    ['ship', ['--server', 'bogus'], /--server: 'bogus' is not a server address/],
    ['ship', ['--n', '-5'], /--n must be an integer of at least 1, got "-5"/],
    ['encoders', ['--bogus'], /Unknown option '--bogus'/],
    ['encoders', ['nope'], /unknown strategy "nope": the strategies are utf8Write3x,/],
    ['producers', ['--bogus'], /Unknown option '--bogus'/],
    ['producers', ['--n', '1.5'], /--n must be an integer of at least 1, got "1.5"/],
    ['producers', ['--producers', '-1'], /--producers must be an integer of at least 1, got "-1"/],
    ['producers', ['--shape', 'json1k'], /--shape must be one of ascii, utf8, binary/],
    ['profile-summary', [], /no FILE.cpuprofile given/],
    ['profile-summary', ['--bogus'], /Unknown option '--bogus'/],
    ['profile-summary', ['no-such.cpuprofile'], /no-such\.cpuprofile: ENOENT/],
    ['profile-summary', ['x.cpuprofile', '--top', 'abc'], /--top must be an integer/],
  ];
  it.each(bad)('%s %j: a clear line and the usage, exit 2', (tool, args, message) => {
    const r = run(tool, args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
    expect(r.stderr).toContain(`Usage: node packages/bench/dist/${tool}.js`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe('');
  });

  it('producers --help exits 0 at once, without running the benchmark', () => {
    const t0 = Date.now();
    const r = run('producers', ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: node packages\/bench\/dist\/producers\.js/);
    expect(r.stdout).not.toMatch(/mPerS/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('cli.js --render of a missing file, a non-JSON file or JSON that is no report: one line, exit 2', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardlog-bench-render-'));
    fs.writeFileSync(path.join(dir, 'text.json'), 'not json\nat all\n');
    fs.writeFileSync(path.join(dir, 'other.json'), '{"a": 1}');
    const cases: [string, RegExp][] = [
      [path.join(dir, 'nonexist.json'), /^shardlog-bench: --render: cannot read .*nonexist\.json: ENOENT/],
      [path.join(dir, 'text.json'), /^shardlog-bench: --render: .*text\.json is not JSON/],
      [path.join(dir, 'other.json'), /^shardlog-bench: --render: .*other\.json is not a saved bench report/],
    ];
    try {
      for (const [file, message] of cases) {
        const r = run('cli', ['--render', file, '--out', dir]);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(r.stdout).toBe('');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
