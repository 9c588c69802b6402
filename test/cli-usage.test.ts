/**
 * The `shardlog` binary's contract with scripts: --help and `help CMD` print usage and exit 0, the
 * version is the cli package's, usage errors (unknown command or option, bad option value, extra
 * arguments, DIR missing or not a log) exit 2 with a message on stderr, never 0 or 1 (which for
 * verify means corruption), and a refused command leaves the directory as it was.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { logDir, runCli, tmpDir, writeLog } from './helpers.js';

const COMMANDS = ['cat', 'verify', 'tail', 'stats', 'recover', 'stress', 'ship'];

describe('shardlog help and version', () => {
  it('--help, -h and help print the usage, listing every command, and exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: shardlog <command> \[options\]$/m);
      for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    }
  });

  it("each command's --help (and help CMD) prints its usage and exits 0, without running it", async () => {
    for (const c of COMMANDS) {
      for (const args of [[c, '--help'], [c, '-h'], ['help', c]]) {
        const r = await runCli(args);
        expect(r.code, args.join(' ')).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^Usage: shardlog ${c} `));
        expect(r.stderr).toBe('');
      }
    }
    expect((await runCli(['tail', '--help'])).stdout).toMatch(/POLLING the files/);
  });

  it("--version prints the version in the cli package's package.json", async () => {
    const pkgJson = createRequire(import.meta.url).resolve('@shardlog/cli/package.json');
    const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string; bin: { shardlog: string } };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
    // a copy of the package with another version in its package.json reports that one
    const root = path.dirname(pkgJson);
    const copy = tmpDir();
    for (const d of ['bin', 'dist']) fs.cpSync(path.join(root, d), path.join(copy, d), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
    fs.writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ ...pkg, version: '9.8.7-test' }));
    const p = spawnSync(process.execPath, [path.join(copy, pkg.bin.shardlog), '--version'], { encoding: 'utf8' });
    expect(p.stderr).toBe('');
    expect(p.stdout).toBe('9.8.7-test\n');
  });
});

describe('shardlog usage errors exit 2', () => {
  let dir: string;
  beforeAll(async () => {
    dir = logDir();
    await writeLog(dir, 30);
  });

  it('no command, an unknown command, or help for an unknown command', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: shardlog <command>/);
    for (const args of [['bogus'], ['help', 'bogus']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/unknown command 'bogus'/);
    }
  });

  it('a bad option value, a missing value, an unknown option or an extra argument, on a sound log', async () => {
    const cases: [string[], RegExp][] = [
      [['verify', dir, '--threads'], /--threads/],
      [['verify', dir, '--threads', 'abc'], /--threads takes an integer/],
      [['verify', dir, '--threads', '-1'], /--threads/],
      [['verify', dir, '--bogus'], /--bogus/],
      [['verify', dir, 'extra'], /unexpected argument 'extra'/],
      [['cat', dir, '--from', 'abc'], /--from takes an integer/],
      [['cat', dir, '--from', '1.5'], /--from takes an integer/],
      [['cat', dir, 'extra'], /unexpected argument 'extra'/],
      [['stats', dir, '--json=yes'], /--json/],
      [['tail', dir, '-n', 'abc'], /-n takes an integer/],
      [['tail', dir, '--from', 'x'], /--from takes an integer/],
      [['tail', dir, '--interval', '0'], /--interval/],
      [['recover', dir, '--json=1'], /--json/],
      [['stress', 'extra'], /extra/],
      [['stress', '--shards'], /--shards/],
      [['stress', '--kill-at', '5s', '--duration', '1s'], /--kill-at 5000ms is not within --duration/],
      [['stress', '--kill-at', '6s'], /not within --duration \(5000ms\)/],
      [['verify'], /missing DIR/],
      [['cat'], /missing DIR/],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stdout, args.join(' ')).toBe('');
    }
    // the log is still sound and whole
    const v = await runCli(['verify', dir, '--json', '--threads', '0']);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, records: 30 });
  });

  it('cat, stats, tail (and verify, recover) on a directory that is not a log say so, and touch nothing', async () => {
    const empty = tmpDir();
    const withFiles = tmpDir();
    fs.writeFileSync(path.join(withFiles, 'notes.txt'), 'not a log\n');
    fs.mkdirSync(path.join(withFiles, 'sub'));
    const file = path.join(withFiles, 'notes.txt');
    for (const cmd of ['cat', 'stats', 'tail', 'verify', 'recover']) {
      for (const d of [empty, withFiles]) {
        const r = await runCli([cmd, d]);
        expect(r.code, `${cmd} ${d}`).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`^shardlog ${cmd}: .* is not a log: no manifest and no shard directories`));
        expect(r.stdout).toBe('');
      }
      const f = await runCli([cmd, file]);
      expect(f.code, `${cmd} FILE`).toBe(2);
      expect(f.stderr).toMatch(/is not a log: not a directory/);
      const gone = await runCli([cmd, path.join(empty, 'nothing-here')]);
      expect(gone.code, `${cmd} MISSING`).toBe(2);
      expect(gone.stderr).toMatch(/no log at .* \(it does not exist\)/);
    }
    expect(fs.readdirSync(empty)).toEqual([]);
    expect(fs.readdirSync(withFiles).sort()).toEqual(['notes.txt', 'sub']);
    expect(fs.readdirSync(path.join(withFiles, 'sub'))).toEqual([]);
    expect(fs.existsSync(path.join(empty, 'nothing-here'))).toBe(false);
  });

  it('recover on shard directories without a manifest points at --rebuild-manifest, which restores the log', async () => {
    const dir = logDir();
    await writeLog(dir, 12, { shards: 2 });
    fs.rmSync(path.join(dir, 'shardlog.json'));
    const refused = await runCli(['recover', dir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/no manifest .*shardlog recover --rebuild-manifest/);
    expect(fs.existsSync(path.join(dir, 'shardlog.json'))).toBe(false);
    const r = await runCli(['recover', dir, '--rebuild-manifest', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rebuilt .*framed, 2 shards/);
    expect(JSON.parse(r.stdout).map((s: { records: number }) => s.records).reduce((a: number, b: number) => a + b, 0)).toBe(12);
    const c = await runCli(['cat', dir]);
    expect(c.code).toBe(0);
    expect(c.stdout.trim().split('\n')).toHaveLength(12);
  });

  it('a segment name taken by a directory: stats, verify and cat exit 1 naming it, and it is left alone', async () => {
    const dir = logDir();
    await writeLog(dir, 5);
    const bogus = path.join(dir, '000', '00000000000000099999.wal');
    fs.mkdirSync(bogus);
    for (const cmd of ['stats', 'verify', 'cat']) {
      const r = await runCli([cmd, dir]);
      expect(r.code, cmd).toBe(1);
      expect(r.stdout + r.stderr, cmd).toContain(bogus);
    }
    expect(fs.statSync(bogus).isDirectory()).toBe(true); // left alone
  });

  it('recover on a lines log counts lines and says where their seqs start (lines carry none)', async () => {
    const dir = logDir();
    await writeLog(dir, 7, { format: 'lines' });
    const r = await runCli(['recover', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/shard 0: \d+ segments, 1 scanned, \d+ lines, seqs from \d+ in the last segment/);
    expect(r.stdout).not.toMatch(/last seq 0/);
  });
});
