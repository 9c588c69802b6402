/** Bad input at open: a bad or missing manifest, a path that cannot hold a log; the manifest id; rebuildManifest. */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, InvalidArgumentError, LogFormatError, LogLockedError, LogOpenError, openLog, openLogManager, openLogSync, readLogSync, rebuildManifest, ShardlogError, verifyLog, WriterStartError } from '@shardlog/core';
import { logDir, runCli, segmentFiles, tmpDir } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function manifestFile(dir: string): string {
  return path.join(dir, 'shardlog.json');
}

async function openError(options: Parameters<typeof openLog>[0]): Promise<unknown> {
  return openLog(options).then(
    async (log) => {
      await log.close();
      return undefined;
    },
    (e: unknown) => e,
  );
}

/** A closed framed log with `n` entries over `shards` shards, in several segments. */
async function writtenLog(dir: string, shards: number, n: number, format: 'framed' | 'lines' = 'framed'): Promise<void> {
  const log = await openLog({ dir, shards, format });
  for (let i = 0; i < n; i++) {
    log.append(`entry ${i}\n`);
    if (i % 3 === 2) await log.rotate();
  }
  await log.close();
}

describe('a bad manifest', () => {
  const bad: [string, string][] = [
    ['null', 'null'],
    ['a number', '42'],
    ['an array', '[1, 2]'],
    ['an empty object', '{}'],
    ['shards out of range (too many)', JSON.stringify({ shardlog: 1, format: 'framed', shards: 100000, created: 'x' })],
    ['shards out of range (zero)', JSON.stringify({ shardlog: 1, format: 'framed', shards: 0, created: 'x' })],
    ['shards as a string', JSON.stringify({ shardlog: 1, format: 'framed', shards: '2', created: 'x' })],
    ['fractional shards', JSON.stringify({ shardlog: 1, format: 'framed', shards: 1.5, created: 'x' })],
    ['an unknown format', JSON.stringify({ shardlog: 1, format: 'json', shards: 1, created: 'x' })],
    ['no format', JSON.stringify({ shardlog: 1, shards: 1, created: 'x' })],
    ['no shards', JSON.stringify({ shardlog: 1, format: 'framed', created: 'x' })],
    ['no version', JSON.stringify({ format: 'framed', shards: 1, created: 'x' })],
    ['a future version', JSON.stringify({ shardlog: 2, format: 'framed', shards: 1, created: 'x' })],
    ['created as a number', JSON.stringify({ shardlog: 1, format: 'framed', shards: 1, created: 5 })],
    ['an id that is not a UUID', JSON.stringify({ shardlog: 1, format: 'framed', shards: 1, created: 'x', id: 42 })],
  ];
  for (const [what, text] of bad) {
    it(`${what}: LogFormatError naming the file; nothing is changed`, async () => {
      const dir = logDir();
      fs.mkdirSync(dir);
      fs.writeFileSync(manifestFile(dir), text);
      const e = await openError({ dir });
      expect(e).toBeInstanceOf(LogFormatError);
      expect(e).toMatchObject({ code: 'ERR_SHARDLOG_FORMAT', file: path.join(fs.realpathSync(dir), 'shardlog.json') });
      expect((e as Error).message).toContain('shardlog.json');
      expect(fs.readFileSync(manifestFile(dir), 'utf8')).toBe(text);
      expect(fs.readdirSync(dir)).toEqual(['shardlog.json']); // no lock left, no shard directories
      expect(() => [...readLogSync({ dir })]).toThrow(LogFormatError);
    });
  }
});

describe('a missing manifest', () => {
  it('over existing segments is refused (the log would restart at seq 1); rebuildManifest restores it and the log continues', async () => {
    const dir = logDir();
    await writtenLog(dir, 2, 10);
    const id = JSON.parse(fs.readFileSync(manifestFile(dir), 'utf8')).id;
    fs.rmSync(manifestFile(dir));
    const before = fs.readdirSync(dir).sort();
    const e = await openError({ dir, shards: 2 });
    expect(e).toBeInstanceOf(LogFormatError);
    expect(e).toMatchObject({ code: 'ERR_SHARDLOG_FORMAT' });
    expect((e as Error).message).toMatch(/manifest is missing.*rebuildManifest/);
    expect(fs.readdirSync(dir).sort()).toEqual(before); // nothing created
    const m = rebuildManifest(dir);
    expect(m).toMatchObject({ shardlog: 1, format: 'framed', shards: 2 });
    expect(m.id).toMatch(UUID);
    expect(m.id).not.toBe(id);
    expect(JSON.parse(fs.readFileSync(manifestFile(dir), 'utf8'))).toEqual(m);
    expect(fs.readdirSync(dir).sort()).toEqual(['000', '001', 'shardlog.json']);
    const log = await openLog({ dir });
    expect(log.id).toBe(m.id);
    expect(log.nextSeq).toBe(11);
    log.append('after the rebuild');
    await log.close();
    const seqs = [...readLogSync({ dir })].map((x) => x.seq);
    expect(seqs).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
  });

  it('rebuildManifest reads the format from the extensions (lines) and replaces a damaged manifest', async () => {
    const dir = logDir();
    await writtenLog(dir, 3, 7, 'lines');
    fs.writeFileSync(manifestFile(dir), '{"shardlog": 1, "format": ');
    expect(rebuildManifest(dir)).toMatchObject({ format: 'lines', shards: 3 });
    const log = await openLog({ dir, format: 'lines' });
    expect(log.nextSeq).toBeGreaterThanOrEqual(8); // lines carry no seqs: a bound
    await log.close();
  });

  it("rebuildManifest keeps the log's id: given, or still shown by a damaged manifest; an encrypted log refuses a new one", async () => {
    const dir = logDir();
    const encryption = { keys: { k1: new Uint8Array(32).fill(7) }, keyId: 'k1' };
    const log = await openLog({ dir, shards: 2, encryption });
    for (let i = 0; i < 10; i++) log.append(`secret ${i}`);
    await log.close();
    const id = JSON.parse(fs.readFileSync(manifestFile(dir), 'utf8')).id;
    fs.rmSync(manifestFile(dir));
    expect(() => rebuildManifest(dir)).toThrow(/encrypted.*bound to the log's id/);
    expect(fs.existsSync(manifestFile(dir))).toBe(false);
    expect(() => rebuildManifest(dir, { id: 'not-a-uuid' })).toThrow(InvalidArgumentError);
    expect(rebuildManifest(dir, { id })).toMatchObject({ id, format: 'framed', shards: 2 });
    expect([...readLogSync({ dir, encryption })].map((e) => e.text())).toEqual(Array.from({ length: 10 }, (_, i) => `secret ${i}`));
    // a manifest damaged past parsing that still shows its id keeps it
    fs.writeFileSync(manifestFile(dir), `{"shardlog": 1, "id": "${id}", "format": "fr`);
    expect(rebuildManifest(dir)).toMatchObject({ id });
    const again = await openLog({ dir, encryption });
    expect(again.id).toBe(id);
    await again.close();
  });

  it('rebuildManifest refuses when the files are ambiguous, when the manifest is sound, and while the log is open', async () => {
    const dir = logDir();
    await writtenLog(dir, 3, 6);
    expect(() => rebuildManifest(dir)).toThrow(InvalidArgumentError); // sound manifest: nothing to rebuild
    fs.rmSync(manifestFile(dir));
    // a gap in the shard directories
    fs.renameSync(path.join(dir, '001'), path.join(dir, '001.moved'));
    expect(() => rebuildManifest(dir)).toThrow(/shard directory 001 is missing/);
    fs.renameSync(path.join(dir, '001.moved'), path.join(dir, '001'));
    // segments of both formats
    fs.writeFileSync(path.join(dir, '002', '00000000000000000099.log'), 'x\n');
    expect(() => rebuildManifest(dir)).toThrow(LogFormatError);
    expect(() => rebuildManifest(dir)).toThrow(/both framed .* and lines/);
    fs.rmSync(path.join(dir, '002', '00000000000000000099.log'));
    expect(fs.existsSync(manifestFile(dir))).toBe(false);
    // no segments at all
    const empty = logDir();
    fs.mkdirSync(path.join(empty, '000'), { recursive: true });
    expect(() => rebuildManifest(empty)).toThrow(/no segments/);
    await expect(openLog({ dir: empty })).rejects.toBeInstanceOf(LogFormatError);
    expect(() => rebuildManifest(logDir())).toThrow(InvalidArgumentError); // no such directory
    // and not under an open log
    expect(rebuildManifest(dir)).toMatchObject({ shards: 3, format: 'framed' });
    const log = await openLog({ dir });
    fs.rmSync(manifestFile(dir));
    expect(() => rebuildManifest(dir)).toThrow(LogLockedError);
    await log.close();
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('shardlog'))).toEqual([]);
  });
});

describe('the manifest id', () => {
  it('a new log gets a random UUID, kept across opens and exposed as log.id', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    expect(log.id).toMatch(UUID);
    await log.close();
    const m = JSON.parse(fs.readFileSync(manifestFile(dir), 'utf8'));
    expect(m.id).toBe(log.id);
    const again = await openLog({ dir });
    expect(again.id).toBe(log.id);
    await again.close();
    const other = await openLog({ dir: logDir(), shards: 1 });
    expect(other.id).not.toBe(log.id);
    await other.close();
  });

  it('a manifest without one (an older log) gets one at the next writable open, written durably; readers leave it alone', async () => {
    const dir = logDir();
    await writtenLog(dir, 2, 4);
    const { id: _dropped, ...old } = JSON.parse(fs.readFileSync(manifestFile(dir), 'utf8'));
    fs.writeFileSync(manifestFile(dir), JSON.stringify(old));
    expect([...readLogSync({ dir })]).toHaveLength(4);
    expect(JSON.parse(fs.readFileSync(manifestFile(dir), 'utf8')).id).toBeUndefined();
    const log = await openLog({ dir });
    expect(log.id).toMatch(UUID);
    const m = JSON.parse(fs.readFileSync(manifestFile(dir), 'utf8'));
    expect(m).toEqual({ ...old, id: log.id });
    await log.close();
    expect(fs.readdirSync(dir).sort()).toEqual(['000', '001', 'shardlog.json']); // no temp file left
    const again = await openLog({ dir });
    expect(again.id).toBe(log.id);
    await again.close();
  });
});

describe('a path that cannot hold a log', () => {
  function expectOpenError(e: unknown, where: string, codes: string[]): void {
    expect(e).toBeInstanceOf(LogOpenError);
    expect(e).toBeInstanceOf(ShardlogError);
    expect(e).toMatchObject({ code: 'ERR_SHARDLOG_OPEN' });
    expect((e as Error).message).toContain(where);
    expect(codes).toContain(((e as Error).cause as NodeJS.ErrnoException).code);
  }

  it('a file, or a path under a file: LogOpenError with the system error as cause', async () => {
    const file = path.join(tmpDir(), 'a-file');
    fs.writeFileSync(file, 'not a log');
    expectOpenError(await openError({ dir: file }), file, ['EEXIST', 'ENOTDIR']);
    expectOpenError(await openError({ dir: path.join(file, 'log') }), file, ['ENOTDIR']);
    expect(fs.readFileSync(file, 'utf8')).toBe('not a log');
  });

  it('a path under /proc, where mkdir says ENOENT under a parent that exists: LogOpenError, never a hang', async () => {
    const where = `/proc/shardlog-test-${process.pid}`;
    for (const dir of [where, path.join(where, 'deeper')]) {
      const e = await Promise.race([openError({ dir }), new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000))]);
      expectOpenError(e, where, ['ENOENT']);
    }
  });

  it('a read-only file system: LogOpenError (EROFS), for a new log and for an existing one', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a small read-only tmpfs, which needs root: run it as root');
    const mnt = tmpDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    try {
      const dir = path.join(mnt, 'log');
      await writtenLog(dir, 1, 3);
      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      expectOpenError(await openError({ dir }), dir, ['EROFS']);
      expectOpenError(await openError({ dir: path.join(mnt, 'new') }), path.join(mnt, 'new'), ['EROFS']);
      expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['entry 0\n', 'entry 1\n', 'entry 2\n']); // still readable
      expect(segmentFiles(dir)).toHaveLength(1);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('a directory without permission: LogOpenError (EACCES)', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test runs a child as user nobody (root ignores permissions), which needs root: run it as root');
    const base = tmpDir();
    fs.chmodSync(base, 0o755);
    const locked = path.join(base, 'no-write');
    fs.mkdirSync(locked, { mode: 0o555 });
    const existing = path.join(base, 'log');
    await writtenLog(existing, 1, 1);
    fs.chmodSync(existing, 0o555);
    const script = [
      "import('@shardlog/core').then(async ({ openLog }) => {",
      '  const out = [];',
      '  for (const dir of process.argv.slice(1)) {',
      '    try { await (await openLog({ dir })).close(); out.push({ opened: true }); }',
      '    catch (e) { out.push({ name: e.name, code: e.code, message: e.message, cause: e.cause?.code }); }',
      '  }',
      '  process.stdout.write(JSON.stringify(out));',
      '});',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, path.join(locked, 'log'), existing], {
      uid: 65534,
      gid: 65534,
      cwd: path.join(import.meta.dirname, 'fixtures'),
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((resolve, reject) => {
      child.once('close', resolve);
      child.once('error', (e) => reject(new Error(`the child as user nobody did not start (can nobody run ${process.execPath}?): ${e.message}`)));
    });
    expect(stderr).toBe('');
    const [fresh, old] = JSON.parse(stdout);
    for (const [r, where] of [
      [fresh, path.join(locked, 'log')],
      [old, existing],
    ]) {
      expect(r).toMatchObject({ name: 'LogOpenError', code: 'ERR_SHARDLOG_OPEN', cause: 'EACCES' });
      expect(r.message).toContain(where);
    }
    expect(fs.readdirSync(existing).sort()).toEqual(['000', 'shardlog.json']);
  });

  it('a missing writer script (workerUrl): WriterStartError, and nothing is created', async () => {
    const dir = logDir();
    const e = await openError({ dir, shards: 2, workerUrl: path.join(tmpDir(), 'no-such-writer.mjs') });
    expect(e).toBeInstanceOf(WriterStartError);
    expect(e).toMatchObject({ code: 'ERR_SHARDLOG_WRITER_START' });
    expect(fs.existsSync(dir)).toBe(false);
    expect(() => openLogSync({ dir, workerUrl: path.join(tmpDir(), 'no-such-writer.mjs') })).toThrow(WriterStartError);
    expect(fs.existsSync(dir)).toBe(false);
    // so the corrected open is free to choose its shard count
    const log = await openLog({ dir, shards: 3 });
    expect(log.shards).toBe(3);
    await log.close();
  });
});

describe('opening an existing log', () => {
  it("without `format` keeps the log's own (lines); a different one given is refused", async () => {
    const dir = logDir();
    await writtenLog(dir, 2, 4, 'lines');
    const log = await openLog({ dir });
    log.append('more');
    await log.close();
    const again = openLogSync({ dir });
    again.append('and more');
    await again.close();
    const e = await openError({ dir, format: 'framed' });
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as Error).message).toMatch(/created with format 'lines', opened with 'framed'/);
    const lines = [0, 1].flatMap((s) => segmentFiles(dir, s)).flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean));
    expect(lines.sort()).toEqual(['and more', 'entry 0', 'entry 1', 'entry 2', 'entry 3', 'more']);
  });

  it('a lines log (no seqs on disk) continues its seqs at a reopen: exactly with one shard, above every seq used with more', async () => {
    const one = logDir('one');
    let log = await openLog({ dir: one, shards: 1, format: 'lines' });
    for (let i = 0; i < 5; i++) log.append(`line ${i}`);
    await log.close();
    for (let k = 0; k < 3; k++) {
      log = await openLog({ dir: one });
      expect(log.append(`after reopen ${k}`)).toBe(6 + k); // no seq skipped (each reopen used to skip one)
      await log.close();
    }
    const two = logDir('two');
    log = await openLog({ dir: two, shards: 2, format: 'lines' });
    let last = 0;
    for (let i = 0; i < 5; i++) last = log.append(`line ${i}`);
    await log.close();
    log = await openLog({ dir: two });
    const next = log.append('after reopen');
    expect(next).toBeGreaterThan(last);
    expect(next).toBeLessThanOrEqual(last + 2); // the bound: the newest segment's name plus every line counted
    await log.close();
  });

  it('encryption on a lines log opened without `format` is refused, and the log is left as it was', async () => {
    const dir = logDir();
    await writtenLog(dir, 1, 2, 'lines');
    const before = segmentFiles(dir).map((f) => fs.readFileSync(f, 'utf8'));
    const e = await openError({ dir, encryption: { keys: { k1: new Uint8Array(32).fill(7) }, keyId: 'k1' } });
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as Error).message).toMatch(/encryption needs format 'framed'/);
    expect(segmentFiles(dir).map((f) => fs.readFileSync(f, 'utf8'))).toEqual(before);
  });
});

describe('a missing shard directory', () => {
  it('in a log with entries: open, readLog and verifyLog say so (its seqs must not be given out again); created empty, the log opens', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    for (let i = 0; i < 10; i++) log.append(`e${i}`);
    await log.close();
    const gone = path.join(dir, '001');
    const lost = [...readLogSync({ dir, shards: [1] })].map((e) => e.seq);
    expect(lost.at(-1)).toBe(10); // it held the highest seq
    fs.rmSync(gone, { recursive: true });
    for (const open of [() => openLog({ dir }), async () => openLogSync({ dir }), () => openLog({ dir, skipCorrupt: true })]) {
      const err = await open().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CorruptLogError);
      expect(err).toMatchObject({ code: 'ERR_SHARDLOG_CORRUPT', file: gone, offset: 0, message: expect.stringMatching(/the shard directory is missing .*2 shards.*create it empty \(mkdir /) });
      expect(fs.existsSync(gone)).toBe(false); // not made again behind the user's back
    }
    expect(() => [...readLogSync({ dir })]).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_CORRUPT', file: gone }) as Error);
    const regions: unknown[] = [];
    expect([...readLogSync({ dir, skipCorrupt: true, onSkip: (r) => regions.push(r) })].map((e) => e.seq)).toEqual([1, 3, 5, 7, 9]);
    expect(regions).toEqual([{ shard: 1, file: gone, offset: 0, bytes: 0, reason: 'the shard directory is missing' }]);
    expect([...readLogSync({ dir, shards: [0] })].length).toBe(5); // shard 0 alone is whole
    const report = await verifyLog({ dir });
    expect(report.ok).toBe(false);
    expect(report.errors).toEqual([{ file: gone, shard: 1, offset: 0, reason: expect.stringMatching(/shard directory is missing/) }]);
    // the CLI's readers: cat and tail fail naming it; with --skip-corrupt they say so once and print the rest
    for (const args of [['cat', dir], ['tail', dir, '-n', '100']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(`corrupt log: ${gone} at offset 0: the shard directory is missing`);
      const k = await runCli([...args, '--skip-corrupt']);
      expect(k.code, `${args.join(' ')} --skip-corrupt: ${k.stderr}`).toBe(0);
      expect(k.stdout.split('\n').filter(Boolean)).toEqual(['e0', 'e2', 'e4', 'e6', 'e8']);
      expect(k.stderr.split('\n').filter(Boolean)).toEqual([expect.stringContaining(`${gone} at offset 0: the shard directory is missing`)]);
    }
    // the way out the message names: an empty directory, and the log goes on without those entries
    fs.mkdirSync(gone);
    const again = await openLog({ dir });
    await again.durable(again.append('after'));
    await again.close();
    expect([...readLogSync({ dir })].map((e) => e.text())).toEqual(['e0', 'e2', 'e4', 'e6', 'e8', 'after']);
  });

  it('in a log without entries (a crash right after its manifest was written): made at open', async () => {
    const dir = logDir();
    await (await openLog({ dir, shards: 3 })).close();
    for (const s of ['000', '001', '002']) fs.rmSync(path.join(dir, s), { recursive: true });
    const log = await openLog({ dir });
    expect(fs.readdirSync(dir).filter((n) => /^\d{3}$/.test(n)).sort()).toEqual(['000', '001', '002']); // made at open
    for (let i = 0; i < 3; i++) log.appendTo(0, `e${i}`); // one shard only: its writer alone writes files
    await log.close();
    const again = await openLog({ dir }); // the shards without entries are not "missing"
    await again.close();
    expect([...readLogSync({ dir })].map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await verifyLog({ dir })).ok).toBe(true);
  });
});

describe('a shard directory name taken by a file', () => {
  it('open, readLog (skipCorrupt too) and verifyLog: LogFormatError naming it, never a raw ENOTDIR', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 2 });
    for (let i = 0; i < 6; i++) log.append(`e${i}`);
    await log.close();
    const d = path.join(dir, '001');
    fs.rmSync(d, { recursive: true });
    fs.writeFileSync(d, 'not a directory');
    const want = { code: 'ERR_SHARDLOG_FORMAT', file: d, message: expect.stringMatching(/not a directory/) };
    await expect(openLog({ dir })).rejects.toMatchObject(want);
    expect(() => [...readLogSync({ dir })]).toThrow(expect.objectContaining(want) as Error);
    expect(() => [...readLogSync({ dir, skipCorrupt: true })]).toThrow(expect.objectContaining(want) as Error);
    await expect(verifyLog({ dir })).rejects.toMatchObject(want);
    expect(fs.readFileSync(d, 'utf8')).toBe('not a directory');
  });
});

describe('other paths that are not directories', () => {
  it('a dangling symlink as the log directory: LogOpenError with its EEXIST', async () => {
    const link = path.join(tmpDir(), 'dangling');
    fs.symlinkSync(path.join(tmpDir(), 'no-such-target'), link);
    await expect(openLog({ dir: link })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_OPEN', message: expect.stringMatching(/EEXIST/) });
  });

  it('verifyLog on a file, and a log manager whose root is a file: LogOpenError, no thread left running', async () => {
    const file = path.join(tmpDir(), 'plain-file');
    fs.writeFileSync(file, 'x');
    await expect(verifyLog({ dir: file })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_OPEN', message: expect.stringMatching(/not a directory/) });
    for (const root of [file, path.join(file, 'below')]) {
      await expect(openLogManager({ root, writers: 1 })).rejects.toBeInstanceOf(LogOpenError);
    }
  });
});

