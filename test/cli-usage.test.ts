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
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { logDir, runCli, tmpDir, writeLog } from './helpers.js';

const COMMANDS = ['cat', 'verify', 'tail', 'stats', 'recover', 'stress', 'ship'];

// Several tests here start twenty or more CLI processes one after the other: on a loaded 2-core
// machine that is close to the suite's 60 s default (seen at 51 s), so this file gets more room.
vi.setConfig({ testTimeout: 180_000 });

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

describe('shardlog usage errors: one clear line, exit 2', () => {
  let dir: string;
  beforeAll(async () => {
    dir = logDir();
    await writeLog(dir, 10);
  });

  /** Exit 2, the message on the first stderr line, the hint on the next, no stack trace, nothing on stdout. */
  function expectUsageError(r: { code: number; stdout: string; stderr: string }, cmd: string, message: RegExp, what: string): void {
    expect(r.code, `${what}: ${r.stderr}`).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0], what).toMatch(message);
    expect(lines[1], what).toBe(`Run 'shardlog ${cmd} --help' for usage.`);
    expect(r.stderr, what).not.toMatch(/\n\s+at /);
    expect(r.stderr, what).not.toMatch(/TimeoutOverflowWarning|argument is ambiguous/);
    expect(r.stdout, what).toBe('');
  }

  it('a delay longer than Node timers allow (2147483647 ms) is refused, naming the maximum', async () => {
    const cases: [string[], RegExp][] = [
      [['tail', dir, '-f', '--interval', '99999999999'], /--interval takes a whole number of milliseconds from 1 to 2147483647/],
      [['ship', dir, '--server', 'nats://127.0.0.1:1', '--stream', 'S', '--timeout-ms', '99999999999'], /--timeout-ms takes a whole number of milliseconds from 10 to 2147483647/],
      [['stress', '--hang-timeout', '1000h'], /--hang-timeout: '1000h' is too long: at most 2147483647 ms/],
      [['stress', '--duration', '99999999999999s'], /--duration: '99999999999999s' is too long: at most 2147483647 ms/],
    ];
    for (const [args, msg] of cases) expectUsageError(await runCli(args), args[0], msg, args.join(' '));
  });

  it('stress --dir naming a regular file is refused, and the file is left alone', async () => {
    const file = path.join(tmpDir(), 'a-file');
    fs.writeFileSync(file, 'keep me\n');
    expectUsageError(await runCli(['stress', '--dir', file, '--duration', '100ms', '--quiet']), 'stress', /--dir .*a-file is not a directory/, '--dir FILE');
    expectUsageError(await runCli(['stress', '--dir', path.join(file, 'sub'), '--duration', '100ms', '--quiet']), 'stress', /is not a directory \(a part of its path is a file\)/, '--dir FILE/sub');
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me\n');
  });

  it('stress --full-disk with a --disk-size below the 4 MiB headroom plus the filler is refused up front', async () => {
    expectUsageError(await runCli(['stress', '--full-disk', '--disk-size', '1k']), 'stress', /--disk-size 1024 is too small: at least 5242880 bytes/, '--disk-size 1k');
  });

  it('stress --rate 0 (or a rate rounding to 0) is refused, pointing at --rate unbounded', async () => {
    for (const rate of ['0', '0.4']) expectUsageError(await runCli(['stress', '--rate', rate]), 'stress', /--rate: .* must be at least 1 entry per second; for no limit, say --rate unbounded/, `--rate ${rate}`);
  });

  it('a negative number is the option’s own one-line error, not parseArgs’ "ambiguous" text', async () => {
    const cases: [string[], RegExp][] = [
      [['cat', dir, '--from', '-5'], /^shardlog cat: --from takes an integer of at least 0, got '-5'/],
      [['tail', dir, '-n', '-1'], /^shardlog tail: -n takes an integer of at least 0, got '-1'/],
      [['verify', dir, '--threads', '-1'], /^shardlog verify: --threads takes an integer of at least 0, got '-1'/],
      [['stress', '--shards', '-1'], /^shardlog stress: --shards: '-1' must be an integer from 1 to 256/],
      [['ship', dir, '--server', 'nats://127.0.0.1:1', '--stream', 'S', '--poll-ms', '-5'], /^shardlog ship: --poll-ms takes a whole number of milliseconds/],
    ];
    for (const [args, msg] of cases) expectUsageError(await runCli(args), args[0], msg, args.join(' '));
    // an unknown option gets the hint too
    expectUsageError(await runCli(['stress', '--threads', '-1']), 'stress', /Unknown option '--threads'/, 'stress --threads -1');
  });

  it('number options say the rule they apply; ship refuses half credentials, mixed credentials and a malformed --server', async () => {
    const ship = ['ship', dir, '--server', 'nats://127.0.0.1:1', '--stream', 'S'];
    const cases: [string[], RegExp][] = [
      [['tail', dir, '--interval', '0.5'], /--interval takes a whole number of milliseconds from 1 to 2147483647 .*, got '0.5'/],
      [[...ship, '--max-batch-entries', '1.5'], /--max-batch-entries takes an integer of at least 1, got '1.5'/],
      [[...ship, '--max-batch-bytes', '10'], /--max-batch-bytes takes an integer of at least 64, got '10'/],
      [[...ship, '--user', 'u'], /--user and --password go together/],
      [[...ship, '--password', 'p'], /--user and --password go together/],
      [[...ship, '--user', 'u', '--password', 'p', '--token', 't'], /give --token or --user\/--password, not both/],
      [['ship', dir, '--server', 'notaurl', '--stream', 'S'], /--server: 'notaurl' is not a server address \(expected nats:\/\/host:port or host:port\)/],
      [['ship', dir, '--server', 'http://host:4222', '--stream', 'S'], /--server: .*unknown scheme http:/],
      [['ship', dir, '--server', 'host:99999', '--stream', 'S'], /port 99999 is out of range/],
    ];
    for (const [args, msg] of cases) expectUsageError(await runCli(args), args[0], msg, args.join(' '));
  });

  it('help --help and help -h print the usage and exit 0', async () => {
    for (const args of [['help', '--help'], ['help', '-h']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: shardlog <command> \[options\]$/m);
      expect(r.stderr).toBe('');
    }
  });

  it("the command list shows each command's usage exactly as its --help does", async () => {
    const top = (await runCli(['--help'])).stdout;
    for (const c of [...COMMANDS, 'rekey']) {
      const first = (await runCli([c, '--help'])).stdout.split('\n')[0];
      const usage = first.replace(/^Usage: shardlog /, '');
      expect(top.split('\n').some((l) => l.startsWith(`  ${usage}  `)), `${c}: ${usage}`).toBe(true);
    }
  });
});

describe('shardlog stress report in kill mode', () => {
  it('says what was not measured before an early SIGKILL instead of printing zeros', async () => {
    const r = await runCli(['stress', '--duration', '2s', '--kill-at', '5ms', '--seed', '1', '--quiet', '--producers', '1', '--shards', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}throughput {2}not measured: the writer child was killed before it sent a stats sample$/m);
    expect(r.stdout).toMatch(/^ {2}durable ack not measured: the writer child was killed before it sent a latency histogram$/m);
    expect(r.stdout).not.toMatch(/throughput {2}0\.00 s|\(0 acks/);
  });

  it('shows the numbers the writer child sampled before a later SIGKILL, labelled as such', async () => {
    const r = await runCli(['stress', '--duration', '2s', '--kill-at', '600ms', '--seed', '2', '--quiet', '--producers', '1', '--shards', '1']);
    expect(r.code, r.stderr).toBe(0);
    const t = /^ {2}throughput {2}([\d.]+) s, ([\d,]+) entries.*\(as last sampled before the kill\)$/m.exec(r.stdout);
    expect(t, r.stdout).not.toBeNull();
    expect(Number(t![1])).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/^ {2}durable ack p50 [\d.]+ ms, .*\([\d,]+ acks reported before the kill\)$/m);
  });
});
