/**
 * Support for the ship tests: a real nats-server with JetStream on a free port and a temporary
 * store directory, which a test can SIGKILL and restart (same port, same store) or pause
 * (SIGSTOP/SIGCONT); and small helpers to read a stream back for checks.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { readJetStream } from '@shardlog/ship';
import { tmpDir } from './helpers.js';

const servers: NatsServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class NatsServer {
  readonly url: string;
  private proc: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly storeDir: string,
    private readonly extraArgs: string[],
  ) {
    this.url = `nats://127.0.0.1:${port}`;
  }

  /** Start (or restart) the server; resolves once it accepts connections. */
  async start(): Promise<void> {
    const args = ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir, ...this.extraArgs];
    const p = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    this.proc = p;
    const t0 = Date.now();
    while (!(await canConnect(this.port))) {
      if (p.exitCode !== null) throw new Error(`nats-server exited (${p.exitCode}): ${err}`);
      if (Date.now() - t0 > 15_000) throw new Error(`nats-server did not start on port ${this.port}: ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGKILL the server and wait until it is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
  }
}

/** A fresh nats-server -js on a free port with its own store. Fails (never skips) without the binary. */
export async function startNats(extraArgs: string[] = []): Promise<NatsServer> {
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error('nats-server is not installed: the ship tests need a real server (Debian/Ubuntu: apt-get install nats-server)');
  }
  const s = new NatsServer(await freePort(), path.join(tmpDir('shardlog-nats-'), 'store'), extraArgs);
  fs.mkdirSync(s.storeDir, { recursive: true });
  servers.push(s);
  await s.start();
  return s;
}

/** Connect to a server (for checks and stream set-up). */
export function natsConnect(url: string, auth: { user?: string; pass?: string } = {}): Promise<NatsConnection> {
  return connect({ servers: url, name: 'shardlog-test', ...auth });
}

/** Create a stream taking `<prefix>.>`, with extra config. */
export async function createStream(url: string, name: string, prefix = 'shardlog', extra: Record<string, unknown> = {}, auth: { user?: string; pass?: string } = {}): Promise<void> {
  const nc = await natsConnect(url, auth);
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name, subjects: [`${prefix}.>`], ...extra });
  } finally {
    await nc.close();
  }
}

export interface StreamRecord {
  seq: number;
  shard: number;
  isText: boolean;
  hex: string;
}

/** Every entry in the stream, in the order readJetStream yields them. */
export async function streamEntries(url: string, stream: string, prefix = 'shardlog'): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for await (const e of readJetStream({ servers: url, stream, subjectPrefix: prefix })) {
    out.push({ seq: e.seq, shard: e.shard, isText: e.isText, hex: Buffer.from(e.data).toString('hex') });
  }
  return out;
}

/** Poll until cond() holds; throws with `what` after timeoutMs. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
