// @ts-check
/**
 * Example ingest service: an HTTP endpoint that acknowledges NDJSON only once it is on disk.
 *
 *   POST /ingest    body: NDJSON (one JSON value per line). Every line is checked with JSON.parse,
 *                   then all are appended with one appendMany, and the answer waits for
 *                   `await log.durable(last)`: 200 {"seqs":[first,last]} means fdatasynced.
 *                   400 malformed line or empty body, 413 body or line too large, 405 wrong
 *                   method, 503 when the log has failed (a write or sync error) or is closed.
 *   GET /metrics    Prometheus metrics: the log's (registerMetrics) and the service's own
 *                   (requests by status, ack latency).
 *
 * Run it:  node examples/ingest/server.mjs --dir data/ingest --port 8080 [--shards 2] [--sync batch]
 * Use it:  createIngestServer({ log }) returns a node:http Server, not yet listening.
 */
import * as http from 'node:http';
import { intOption, oneOf, parseCli } from './args.mjs';
import { pathToFileURL } from 'node:url';
import { openLog, registerMetrics } from '@shardlog/core';
import client from 'prom-client';

const STATUS_TEXT = /** @type {Record<number, string>} */ (http.STATUS_CODES);

/**
 * @param {{
 *   log: import('@shardlog/core').Log,
 *   registry?: import('prom-client').Registry,
 *   maxBodyBytes?: number,
 * }} options
 * @returns {http.Server}
 */
export function createIngestServer({ log, registry, maxBodyBytes = 1024 * 1024 }) {
  if (!registry) {
    registry = new client.Registry();
    registerMetrics(log, registry);
  }
  const requests = new client.Counter({
    name: 'ingest_requests_total',
    help: 'POST /ingest requests by response status.',
    labelNames: ['status'],
    registers: [registry],
  });
  const ackSeconds = new client.Histogram({
    name: 'ingest_ack_seconds',
    help: 'From the end of the request body to the 200 (validate, append, durable).',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const metricsRegistry = registry;

  /**
   * @param {http.ServerResponse} res
   * @param {number} status
   * @param {unknown} body
   */
  function reply(res, status, body) {
    requests.inc({ status: String(status) });
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /**
   * @param {http.ServerResponse} res
   * @param {number} status
   * @param {string} message
   */
  function fail(res, status, message) {
    reply(res, status, { error: message, status: STATUS_TEXT[status] });
  }

  /** @param {Error & { code?: string }} e */
  function statusOf(e) {
    if (e.code === 'ERR_SHARDLOG_ENTRY_TOO_LARGE') return 413;
    if (e.code === 'ERR_SHARDLOG_SHARD_FAILED' || e.code === 'ERR_SHARDLOG_CLOSED' || e.code === 'ERR_SHARDLOG_RING_FULL') return 503;
    return 500;
  }

  /**
   * @param {http.IncomingMessage} req
   * @param {http.ServerResponse} res
   */
  async function ingest(req, res) {
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) {
      res.setHeader('connection', 'close');
      return fail(res, 413, `body is larger than the ${maxBodyBytes} bytes allowed`);
    }
    const started = performance.now();
    const text = body.toString('utf8');
    /** @type {string[]} */
    const lines = [];
    let lineNo = 0;
    for (const raw of text.split('\n')) {
      lineNo++;
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line.trim() === '') continue;
      try {
        JSON.parse(line);
      } catch (e) {
        return fail(res, 400, `line ${lineNo} is not valid JSON: ${/** @type {Error} */ (e).message}`);
      }
      lines.push(line);
    }
    if (lines.length === 0) return fail(res, 400, 'empty body: send one JSON value per line (NDJSON)');
    const failure = log.failure;
    if (failure) return fail(res, 503, `the log has failed and takes no more entries: ${failure.message}`);
    let last;
    try {
      last = log.appendMany(lines);
    } catch (e) {
      const err = /** @type {Error & { code?: string }} */ (e);
      return fail(res, statusOf(err), err.message);
    }
    try {
      await log.durable(last);
    } catch (e) {
      const err = /** @type {Error & { code?: string }} */ (e);
      return fail(res, 503, `the entries were appended but not made durable: ${err.message}`);
    }
    ackSeconds.observe((performance.now() - started) / 1000);
    reply(res, 200, { seqs: [last - lines.length + 1, last] });
  }

  /**
   * @param {http.IncomingMessage} req
   * @param {http.ServerResponse} res
   */
  async function route(req, res) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ingest') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return fail(res, 405, 'use POST with an NDJSON body');
      }
      return ingest(req, res);
    }
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      const body = await metricsRegistry.metrics();
      res.writeHead(200, { 'content-type': metricsRegistry.contentType });
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    return fail(res, 404, `no route for ${req.method} ${path}: try POST /ingest or GET /metrics`);
  }

  return http.createServer((req, res) => {
    route(req, res).catch((e) => {
      if (!res.headersSent) fail(res, 500, /** @type {Error} */ (e).message);
      else res.destroy(/** @type {Error} */ (e));
    });
  });
}

/**
 * The request body, or undefined if it is larger than `limit` bytes. The rest of a body over the
 * limit is read and dropped, so the client gets the 413; past 4 x limit the connection is cut.
 * @param {http.IncomingMessage} req
 * @param {number} limit
 * @returns {Promise<Buffer | undefined>}
 */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    req.on('data', (/** @type {Buffer} */ chunk) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > 4 * limit) {
        req.destroy();
        resolve(undefined);
      }
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `node examples/ingest/server.mjs --dir DIR --port N`: serve until SIGINT / SIGTERM, then close the log. */
const SERVER_USAGE = 'usage: node examples/ingest/server.mjs [--dir DIR] [--port 0-65535] [--host HOST] [--shards 1-256] [--sync batch|none]';

async function main() {
  const values = parseCli(SERVER_USAGE, {
    dir: { type: 'string', default: 'data/ingest' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    shards: { type: 'string' },
    sync: { type: 'string', default: 'batch' },
  });
  const port = intOption(SERVER_USAGE, 'port', values.port, 0, 65535);
  const shards = values.shards === undefined ? undefined : intOption(SERVER_USAGE, 'shards', values.shards, 1, 256);
  const sync = oneOf(SERVER_USAGE, 'sync', values.sync, /** @type {const} */ (['batch', 'none']));
  let log;
  try {
    log = await openLog({ dir: /** @type {string} */ (values.dir), shards, sync });
  } catch (e) {
    process.stderr.write(`ingest: ${/** @type {Error} */ (e).message}\n`);
    process.exit(1);
  }
  const server = createIngestServer({ log });
  server.listen(port, values.host, () => {
    const a = /** @type {import('node:net').AddressInfo} */ (server.address());
    process.stdout.write(`ingest: listening on http://${a.address}:${a.port} (log ${values.dir}, ${log.shards} shards)\n`);
  });
  const stop = () => {
    server.close();
    server.closeIdleConnections();
    log.close().then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`ingest: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
