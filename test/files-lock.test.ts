/** The lock: exactly one open of a log at a time, across processes, threads and path spellings; stale locks taken over. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { LogLockedError, openLog } from '@shardlog/core';
import { logDir, segmentFiles, tmpDir } from './helpers.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');

/** A child process driven line by line (fixtures/lock-racer.mjs). */
class Racer {
  readonly proc: ChildProcess;
  private buf = '';
  private lines: string[] = [];
  private wake: (() => void) | undefined;
  constructor() {
    this.proc = spawn(process.execPath, [path.join(FIXTURES, 'lock-racer.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.wake?.();
    });
  }
  get pid(): number {
    return this.proc.pid!;
  }
  send(cmd: string): void {
    this.proc.stdin!.write(cmd + '\n');
  }
  async next(): Promise<string> {
    const deadline = Date.now() + 30_000;
    while (this.lines.length === 0) {
      if (Date.now() > deadline || this.proc.exitCode !== null) throw new Error(`racer ${this.pid} said nothing`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 100);
      });
    }
    return this.lines.shift()!;
  }
  async end(): Promise<void> {
    this.proc.stdin!.end();
    if (this.proc.exitCode === null) await new Promise((r) => this.proc.once('exit', r));
  }
}

/** A pid that ran and no longer does. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

function lockFile(dir: string): string {
  return path.join(dir, 'shardlog.lock');
}

describe('one writer per log', () => {
  const racers: Racer[] = [];
  afterAll(async () => {
    await Promise.all(racers.map((r) => r.end()));
  });

  it('processes racing openLog, with and without a stale lock: exactly one wins each time, the others get LogLockedError naming it', async () => {
    for (let i = 0; i < 4; i++) racers.push(new Racer());
    for (const r of racers) expect(await r.next()).toBe('ready');
    const dead = await deadPid();
    const stale = [
      undefined, // no lock
      `${dead}\n`, // an older version's lock of a process that is gone
      `${dead}\n-\n00000000-0000-4000-8000-000000000000\n`, // gone, no start time known
      // the pid runs (this test), but it is another process than the one that took the lock
      `${process.pid}\n00000000-0000-4000-8000-000000000000/1\n00000000-0000-4000-8000-000000000001\n`,
      '', // an empty lock file
    ];
    for (let round = 0; round < 30; round++) {
      const dir = logDir();
      // the log exists already (closed), so every racer goes straight for the lock
      await (await openLog({ dir, shards: 1, flushOnExit: false })).close();
      const lock = stale[round % stale.length];
      if (lock !== undefined) fs.writeFileSync(lockFile(dir), lock);
      const these = racers.slice(0, 2 + (round % 3));
      for (const r of these) r.send(`go ${dir}`);
      const said = await Promise.all(these.map((r) => r.next()));
      const winners = these.filter((_, i) => said[i] === 'won');
      expect(winners.length, `round ${round} (stale lock: ${JSON.stringify(lock)}): ${said.join(', ')}`).toBe(1);
      const winner = winners[0];
      for (const s of said) if (s !== 'won') expect(s).toBe(`lost ERR_SHARDLOG_LOCKED ${winner.pid}`);
      expect(fs.readFileSync(lockFile(dir), 'utf8').split('\n')[0]).toBe(String(winner.pid));
      winner.send('close');
      expect(await winner.next()).toBe('closed');
      // nothing left behind: no lock, no claim or temp file
      expect(fs.readdirSync(dir).filter((n) => n.startsWith('shardlog.lock'))).toEqual([]);
    }
  });

  it('a second open from another thread of this process is refused', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    try {
      const w = new Worker(path.join(FIXTURES, 'open-in-thread.mjs'), { workerData: { dir } });
      const got = await new Promise<{ opened: boolean; code?: string; pid?: number }>((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
      });
      await w.terminate();
      expect(got).toMatchObject({ opened: false, code: 'ERR_SHARDLOG_LOCKED', pid: process.pid });
      log.append('still ours');
      await log.durable();
    } finally {
      await log.close();
    }
    expect(fs.existsSync(lockFile(dir))).toBe(false);
  });

  it('a second open through a symlink or a relative path is refused, and leaves the lock alone', async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1 });
    const link = path.join(tmpDir(), 'link');
    fs.symlinkSync(dir, link);
    const before = fs.readFileSync(lockFile(dir), 'utf8');
    const cwd = process.cwd();
    try {
      await expect(openLog({ dir: link })).rejects.toMatchObject({ code: 'ERR_SHARDLOG_LOCKED', pid: process.pid });
      await expect(openLog({ dir: path.join(link, '..', 'link', '.') })).rejects.toBeInstanceOf(LogLockedError);
      process.chdir(path.dirname(dir));
      await expect(openLog({ dir: path.basename(dir) })).rejects.toBeInstanceOf(LogLockedError);
      expect(fs.readFileSync(lockFile(dir), 'utf8')).toBe(before);
      expect(log.dir).toBe(fs.realpathSync(dir));
    } finally {
      process.chdir(cwd);
      await log.close();
    }
    expect(fs.existsSync(lockFile(dir))).toBe(false);
  });

  it('a lock whose pid now belongs to an unrelated process is stale; a live holder is named with how to clear it', async () => {
    const dir = logDir();
    await (await openLog({ dir, shards: 1 })).close();
    // an unrelated, running process got the pid of the crashed owner
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      fs.writeFileSync(lockFile(dir), `${other.pid}\n00000000-0000-4000-8000-000000000000/12345\n00000000-0000-4000-8000-000000000002\n`);
      const log = await openLog({ dir });
      expect(fs.readFileSync(lockFile(dir), 'utf8').split('\n')[0]).toBe(String(process.pid));
      await log.close();
      // a lock that names that process with its real start time (as its own open would): refused
      const start = fs.readFileSync(`/proc/${other.pid}/stat`, 'utf8').split(') ')[1].split(' ')[22 - 3];
      const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      fs.writeFileSync(lockFile(dir), `${other.pid}\n${boot}/${start}\n00000000-0000-4000-8000-000000000003\n`);
      const e = await openLog({ dir }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(LogLockedError);
      expect(e).toMatchObject({ code: 'ERR_SHARDLOG_LOCKED', pid: other.pid, file: lockFile(dir) });
      const msg = (e as Error).message;
      expect(msg).toContain(`locked by process ${other.pid}`);
      expect(msg).toContain(lockFile(dir));
      expect(msg).toMatch(/stop that process, or remove .*shardlog\.lock if you are sure no process has the log open/);
    } finally {
      other.kill('SIGKILL');
      await new Promise((r) => other.once('exit', r));
    }
    // and once that process is gone, its lock is stale
    await (await openLog({ dir })).close();
  });

  it('claims left by processes that died while taking over a stale lock do not block opening, and are cleaned up', async () => {
    const dir = logDir();
    await (await openLog({ dir, shards: 1 })).close();
    const dead = await deadPid();
    const rec = (pid: number, token: string) => `${pid}\n-\n${token}\n`;
    const [t, c, d] = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000c'];
    fs.writeFileSync(lockFile(dir), rec(dead, t)); // the stale lock
    fs.writeFileSync(path.join(dir, `shardlog.lock.claim-${t}`), rec(dead, c)); // its claimant died...
    fs.writeFileSync(path.join(dir, `shardlog.lock.claim-${c}`), rec(dead, d)); // ...and so did the one after it
    fs.writeFileSync(path.join(dir, `shardlog.lock.${d}.tmp`), rec(dead, d)); // with its temp file
    const log = await openLog({ dir });
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('shardlog.lock')).sort()).toEqual(['shardlog.lock']);
    await log.close();
    // an older version's lock naming this very process (its pid was reused by us) is stale too
    fs.writeFileSync(lockFile(dir), `${process.pid}\n`);
    await (await openLog({ dir })).close();
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('shardlog.lock'))).toEqual([]);
  });

  it('a relative dir and a later chdir(): retention, close and the lock stay with the log that was opened', async () => {
    const cwd = process.cwd();
    const a = tmpDir();
    const b = tmpDir();
    // another log, with the same relative name, under b
    const other = await openLog({ dir: path.join(b, 'log'), shards: 1 });
    for (let i = 0; i < 4; i++) {
      await other.durable(other.append(`other ${i}`));
      await other.rotate();
    }
    await other.close();
    const otherSegs = segmentFiles(path.join(b, 'log'));
    expect(otherSegs.length).toBeGreaterThan(2);
    try {
      process.chdir(a);
      const log = await openLog({ dir: 'log', shards: 1 });
      for (let i = 0; i < 4; i++) {
        await log.durable(log.append(`ours ${i}`));
        await log.rotate();
      }
      log.append('last');
      process.chdir(b);
      const r = await log.truncateBefore(log.nextSeq);
      expect(r.removed.length).toBeGreaterThan(0);
      for (const g of r.removed) expect(g.file.startsWith(fs.realpathSync(a))).toBe(true);
      expect(segmentFiles(path.join(b, 'log'))).toEqual(otherSegs);
      await log.close();
      expect(fs.existsSync(path.join(a, 'log', 'shardlog.lock'))).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });

  it('a holder killed but not yet reaped by its parent (a zombie) holds nothing: its lock is taken over at once', async () => {
    const dir = logDir();
    // a shell that starts the holder and then becomes `sleep`, which never reaps it
    const sh = spawn('sh', ['-c', `"${process.execPath}" "${path.join(FIXTURES, 'lock-holder.mjs')}" "${dir}" & exec sleep 60`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        let out = '';
        sh.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /^open (\d+)$/m.exec(out);
          if (m) resolve(Number(m[1]));
        });
        sh.on('exit', () => reject(new Error(`the holder did not open: ${out}`)));
      });
      await expect(openLog({ dir })).rejects.toBeInstanceOf(LogLockedError); // alive: refused
      process.kill(pid, 'SIGKILL');
      // Z and one thread: every thread has exited (while the leader is Z with other threads still
      // exiting, one may be inside a write: the lock is still held then, rightly)
      const state = () => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] + /^Threads:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
      for (let i = 0; i < 500 && state() !== 'Z1'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(state()).toBe('Z1'); // killed, every thread gone, still not reaped
      const log = await openLog({ dir });
      await log.durable(log.append('after the zombie'));
      await log.close();
    } finally {
      sh.kill('SIGKILL');
    }
  });
});
