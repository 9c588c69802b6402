// @ts-check
/**
 * Load test of the ingest service with autocannon, on 127.0.0.1 only and bounded in time.
 *
 *   node examples/ingest/load.mjs [--seconds 3] [--connections 16] [--lines 10] [--shards 2] [--sync batch]
 *
 * It opens a log in a fresh temporary directory, starts the service on an ephemeral port of
 * 127.0.0.1 (in this process), drives POST /ingest with a fixed NDJSON body for `seconds`, then
 * closes everything and removes the directory. The report: requests/s, entries/s, the ack latency
 * autocannon saw (a 200 is sent only after the entries are durable), non-2xx answers, and the
 * log's own counters (fdatasyncs, mean entries per batch).
 *
 * The bench harness calls runIngestLoad(options) and gets the same report as an object.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { intOption, oneOf, parseCli } from './args.mjs';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { openLog } from '@shardlog/core';
import { createIngestServer } from './server.mjs';

/**
 * @typedef {object} IngestLoadOptions
 * @property {number} [seconds]      how long autocannon runs (default 3)
 * @property {number} [connections]  concurrent connections (default 16)
 * @property {number} [pipelining]   requests in flight per connection (default 1)
 * @property {number} [lines]        NDJSON lines per request (default 10)
 * @property {number} [lineBytes]    approximate bytes per line (default 100)
 * @property {number} [shards]       shards of the log (default 2)
 * @property {'batch' | 'none'} [sync]  sync policy of the log (default 'batch')
 *
 * @typedef {object} IngestLoadReport
 * @property {number} seconds
 * @property {number} connections
 * @property {number} linesPerRequest
 * @property {number} requests          2xx answers
 * @property {number} requestsPerSec    mean 2xx answers per second
 * @property {number} entriesPerSec
 * @property {{ p50: number, p90: number, p99: number, max: number, mean: number }} ackLatencyMs
 * @property {number} non2xx
 * @property {number} errors
 * @property {number} fsyncs
 * @property {number} meanBatchEntries
 */

/**
 * @param {IngestLoadOptions} [options]
 * @returns {Promise<IngestLoadReport>}
 */
export async function runIngestLoad(options = {}) {
  const { seconds = 3, connections = 16, pipelining = 1, lines = 10, lineBytes = 100, shards = 2, sync = 'batch' } = options;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shardlog-ingest-load-'));
  const log = await openLog({ dir: path.join(tmp, 'log'), shards, sync });
  const server = createIngestServer({ log });
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
    const pad = 'x'.repeat(Math.max(0, lineBytes - 40));
    let body = '';
    for (let i = 0; i < lines; i++) body += JSON.stringify({ i, msg: 'load test', pad }) + '\n';
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/ingest`,
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
      connections,
      pipelining,
      duration: seconds,
    });
    const st = log.stats();
    const ok = result['2xx'];
    return {
      seconds: result.duration,
      connections,
      linesPerRequest: lines,
      requests: ok,
      requestsPerSec: Math.round(ok / result.duration),
      entriesPerSec: Math.round((ok * lines) / result.duration),
      ackLatencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.average },
      non2xx: result.non2xx,
      errors: result.errors,
      fsyncs: st.fsyncs,
      meanBatchEntries: Math.round(st.meanBatchEntries * 10) / 10,
    };
  } finally {
    server.closeAllConnections();
    server.close();
    await log.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const LOAD_USAGE = 'usage: node examples/ingest/load.mjs [--seconds 1-60] [--connections N] [--pipelining N] [--lines N] [--shards 1-256] [--sync batch|none]';

async function main() {
  const values = parseCli(LOAD_USAGE, {
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    pipelining: { type: 'string', default: '1' },
    lines: { type: 'string', default: '10' },
    shards: { type: 'string', default: '2' },
    sync: { type: 'string', default: 'batch' },
  });
  const report = await runIngestLoad({
    seconds: intOption(LOAD_USAGE, 'seconds', values.seconds, 1, 60), // bounded: this is a local smoke load, not a soak
    connections: intOption(LOAD_USAGE, 'connections', values.connections, 1, 1000),
    pipelining: intOption(LOAD_USAGE, 'pipelining', values.pipelining, 1, 100),
    lines: intOption(LOAD_USAGE, 'lines', values.lines, 1, 10_000),
    shards: intOption(LOAD_USAGE, 'shards', values.shards, 1, 256),
    sync: oneOf(LOAD_USAGE, 'sync', values.sync, /** @type {const} */ (['batch', 'none'])),
  });
  const l = report.ackLatencyMs;
  process.stdout.write(
    `ingest load: ${report.seconds}s, ${report.connections} connections, ${report.linesPerRequest} lines/request\n` +
      `  ${report.requestsPerSec} requests/s, ${report.entriesPerSec} entries/s (${report.requests} acks, ${report.non2xx} non-2xx, ${report.errors} errors)\n` +
      `  ack latency ms: p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  max ${l.max}  mean ${l.mean}\n` +
      `  log: ${report.fsyncs} fdatasyncs, ${report.meanBatchEntries} entries per batch\n`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
