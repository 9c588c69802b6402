/**
 * The example ingest service (examples/ingest) end to end on 127.0.0.1 with an ephemeral port:
 * a 200 only once the entries are durable, 4xx for bad input with nothing appended, 503 after an
 * injected sync failure, GET /metrics, and a one-second autocannon smoke run of the load script.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openLog, readLogSync, type Log, type OpenOptions } from '@shardlog/core';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error the example is plain JavaScript (checked with // @ts-check, no declaration file)
import { createIngestServer } from '../examples/ingest/server.mjs';
// @ts-expect-error the same
import { runIngestLoad } from '../examples/ingest/load.mjs';
import { logDir, REPO_ROOT } from './helpers.js';

interface Service {
  log: Log;
  url: string;
  dir: string;
}

const open: { server: Server; log: Log }[] = [];
afterEach(async () => {
  for (const { server, log } of open.splice(0)) {
    server.closeAllConnections();
    server.close();
    await log.close().catch(() => undefined);
  }
});

async function start(options: Partial<OpenOptions> = {}, maxBodyBytes?: number): Promise<Service> {
  const dir = logDir();
  const log = await openLog({ dir, shards: 2, ...options });
  const server = (createIngestServer as (o: object) => Server)({ log, maxBodyBytes });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  open.push({ server, log });
  return { log, dir, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function post(url: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/ingest`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('ingest service', () => {
  it('answers 200 {"seqs":[first,last]} only once the lines are durable', async () => {
    // sync 'none': the writers fdatasync only when someone waits in durable(), so a zero durable
    // lag and a sync when the 200 arrives are the service's `await log.durable(last)` at work.
    const { log, url, dir } = await start({ sync: 'none' });
    const r = await post(url, '{"user":1}\n{"user":2}\n\n{"user":3}\r\n');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ seqs: [1, 3] });
    const st = log.stats();
    expect(st.fsyncs).toBeGreaterThan(0);
    expect(st.durableLagBytes).toBe(0);
    const r2 = await post(url, '{"user":4}');
    expect(r2.json).toEqual({ seqs: [4, 4] });
    await log.close();
    expect([...readLogSync({ dir })].map((e) => [e.seq, e.text()])).toEqual([
      [1, '{"user":1}'],
      [2, '{"user":2}'],
      [3, '{"user":3}'],
      [4, '{"user":4}'],
    ]);
  });

  it('400 for a malformed line or an empty body, 413 for a body too large: nothing appended', async () => {
    const { log, url } = await start({}, 1000);
    const bad = await post(url, '{"ok":true}\n{"broken":\n{"ok":false}\n');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^line 2 is not valid JSON/);
    const empty = await post(url, '');
    expect(empty.status).toBe(400);
    expect(empty.json.error).toMatch(/empty body/);
    const blank = await post(url, '\n  \n');
    expect(blank.status).toBe(400);
    const big = await post(url, `{"pad":"${'x'.repeat(2000)}"}\n`);
    expect(big.status).toBe(413);
    expect(big.json.error).toMatch(/larger than the 1000 bytes allowed/);
    expect(log.nextSeq).toBe(1);
    const get = await fetch(`${url}/ingest`);
    expect(get.status).toBe(405);
    expect((await fetch(`${url}/nowhere`)).status).toBe(404);
  });

  it('503 once the log has failed (an injected fdatasync error), for this request and the next', async () => {
    const { url } = await start({ testFaults: { syncFailAt: 1 } });
    const first = await post(url, '{"a":1}\n');
    expect(first.status).toBe(503);
    expect(first.json.error).toMatch(/not made durable.*EIO/);
    const next = await post(url, '{"a":2}\n');
    expect(next.status).toBe(503);
    expect(next.json.error).toMatch(/the log has failed/);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('shardlog_state{state="failed"} 1');
    expect(metrics).toContain('ingest_requests_total{status="503"} 2');
  });

  it('GET /metrics serves the log and service metrics in Prometheus text format', async () => {
    const { url } = await start();
    for (let i = 0; i < 3; i++) expect((await post(url, '{"a":1}\n{"b":2}\n')).status).toBe(200);
    await post(url, 'nope');
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const entries = [...text.matchAll(/^shardlog_entries_total\{shard="\d"\} (\d+)$/gm)].map((m) => Number(m[1]));
    expect(entries.reduce((a, b) => a + b, 0)).toBe(6);
    expect(text).toMatch(/^shardlog_fsyncs_total\{shard="0"\} [1-9]/m);
    expect(text).toContain('ingest_requests_total{status="200"} 3');
    expect(text).toContain('ingest_requests_total{status="400"} 1');
    expect(text).toContain('ingest_ack_seconds_count 3');
  });

  it('the load script drives the service with autocannon (a one-second smoke run)', async () => {
    const report = (await (runIngestLoad as (o: object) => Promise<Record<string, number>>)({ seconds: 1, connections: 4, lines: 5, shards: 1 })) as unknown as {
      requests: number;
      non2xx: number;
      errors: number;
      fsyncs: number;
      ackLatencyMs: { p50: number };
    };
    expect(report.requests).toBeGreaterThan(0);
    expect(report.non2xx).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.fsyncs).toBeGreaterThan(0);
    expect(report.ackLatencyMs.p50).toBeGreaterThanOrEqual(0);
  });
});

describe('the ingest scripts on the command line', () => {
  const script = (name: string) => path.join(REPO_ROOT, 'examples/ingest', name);
  const run = (name: string, args: string[]) => spawnSync(process.execPath, [script(name), ...args], { encoding: 'utf8', timeout: 20_000 });

  it('--help prints the usage line and exits 0', () => {
    for (const name of ['server.mjs', 'load.mjs']) {
      const r = run(name, ['--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: node examples/ingest/${name}`));
    }
  });

  it('a bad value or an unknown option prints what is wrong and the usage line (exit 2), no stack trace', () => {
    for (const [name, args, what] of [
      ['server.mjs', ['--port', 'abc'], /--port must be an integer/],
      ['server.mjs', ['--shards', '0'], /--shards must be an integer/],
      ['load.mjs', ['--seconds', 'x'], /--seconds must be an integer from 1 to 60, got "x"/],
      ['load.mjs', ['--seconds', '0'], /--seconds must be an integer/],
      ['load.mjs', ['--connections', '2.5'], /--connections must be an integer/],
      ['load.mjs', ['--sync', 'sometimes'], /--sync must be one of batch, none/],
      ['load.mjs', ['--bogus'], /Unknown option '--bogus'/],
    ] as const) {
      const r = run(name, [...args]);
      expect(r.status, `${name} ${args.join(' ')}`).toBe(2);
      expect(r.stderr).toMatch(what);
      expect(r.stderr).toMatch(/^usage: /m);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });
});
