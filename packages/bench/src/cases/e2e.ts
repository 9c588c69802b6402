/**
 * End-to-end runs (one per child process): write N entries of one shape to files with one system,
 * stop the clock once every byte is on disk (the last append returned, the stream or log closed,
 * and the data fdatasynced), then verify the files.
 *
 * Every system gets the fairest use its documentation suggests:
 *   shardlog          log.append(entry) in a loop; the producer blocks when the ring is full; close()
 *   sonic-boom        async (sync: false); write(line) honouring its return value ('drain')
 *   sonic-boom fsync  the same with fsync: true (an fsync after every write it issues)
 *   pino destination  pino({ base: null, timestamp: false }, pino.destination({ sync: false, minLength: 4096 }));
 *                     pino has no backpressure, the loop yields to the event loop every 1024 entries
 *   pino transport    the same logger over pino.transport({ target: 'pino/file' }) (thread-stream + sonic-boom
 *                     in a worker); every 1024 entries, waits for 'drain' if thread-stream asks
 *   thread-stream     ThreadStream writing to sonic-boom in its worker; write(line) honouring backpressure
 *   fs stream         fs.createWriteStream; write(line) honouring backpressure
 * The streams do not sync on their own, so their runs end with one fdatasync of the file (shardlog's
 * close() does the same), so every clock stops at the same point: all bytes durable.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openLog, type Log } from '@shardlog/core';
import pino from 'pino';
import { binaryPool, expectedFor, POOL_MASK, stringPool } from '../entries.js';
import { SonicBoom, ThreadStream } from '../peers.js';
import { cpuSource, fdatasyncFile, forceGc, GcWatch, mark, peakRssMiB, yieldLoop } from '../measure.js';
import type { E2EResult, E2ESpec } from '../types.js';
import { verifyLines, verifyShardlog, type LineDecoding, type Verification } from '../verify.js';

const THREAD_WORKER = fileURLToPath(new URL('../thread-worker.js', import.meta.url));

interface Runner {
  /** The measured loop: append / write all N entries. */
  loop(): Promise<void> | void;
  /** Close and make durable (measured too). */
  finish(): Promise<void>;
  /** After the clock stopped. */
  verify(): Verification;
  extra?(): Record<string, number | string>;
}

async function measureRunner(spec: E2ESpec, r: Runner): Promise<E2EResult> {
  const gcw = new GcWatch();
  forceGc();
  const m0 = mark();
  await r.loop();
  const m1 = mark();
  await r.finish();
  const m2 = mark();
  const gcs = await gcw.count(m0.t, m1.t);
  gcw.stop();
  const wallMs = m2.t - m0.t;
  const verification = r.verify();
  const payloadBytes = expectedFor(spec.shape, spec.n).payloadBytes;
  return {
    kind: 'e2e',
    id: spec.id,
    label: spec.label,
    system: spec.system,
    n: spec.n,
    entriesPerSec: spec.n / (wallMs / 1000),
    mbPerSec: verification.fileBytes / 1e6 / (wallMs / 1000),
    fileBytes: verification.fileBytes,
    payloadBytes,
    wallMs,
    appendMs: m1.t - m0.t,
    cpuNsPerEntry: (m2.cpu - m0.cpu) / spec.n,
    cpuSource,
    peakRssMiB: peakRssMiB(),
    gcs,
    heapBytesPerEntry: Math.max(0, m1.heap - m0.heap) / spec.n,
    verification,
    extra: {
      ...(r.extra?.() ?? {}),
      runqWaitMs: m2.runq - m0.runq,
      // the CPU of every other thread of the process (shardlog: its writer threads; thread-stream and
      // pino.transport: their worker; plus GC helpers and libuv's pool), per entry
      offMainCpuNs: Math.max(0, m2.proc - m0.proc - (m2.cpu - m0.cpu)) / spec.n,
    },
  };
}

// The pools and the loops live at module level: the warm-up pass and the measured pass run the
// same function objects, so the measured pass starts with their optimized code and feedback.
let asciiPool: string[] | undefined;
let asciiLines: string[] | undefined;
let binPool: Uint8Array[] | undefined;
let jsonPool: string[] | undefined;
const ascii = (): string[] => (asciiPool ??= stringPool('ascii'));
const json1k = (): string[] => (jsonPool ??= stringPool('json1k'));
const lines = (): string[] => (asciiLines ??= ascii().map((s) => s + '\n'));
let asciiLineBuffers: Buffer[] | undefined;
const lineBuffers = (): Buffer[] => (asciiLineBuffers ??= lines().map((s) => Buffer.from(s, 'latin1')));
const binary = (): Uint8Array[] => (binPool ??= binaryPool());

function appendStrings(log: Log, pool: string[], n: number): void {
  for (let i = 0; i < n; i++) log.append(pool[i & POOL_MASK]);
}

function appendBinary(log: Log, pool: Uint8Array[], n: number): void {
  for (let i = 0; i < n; i++) log.append(pool[i & POOL_MASK]);
}

/** write(line) for every entry, waiting for 'drain' whenever write() says so. */
async function writeLines<T extends string | Buffer>(stream: { write(s: T): boolean } & NodeJS.EventEmitter, pool: T[], n: number): Promise<number> {
  let waits = 0;
  for (let i = 0; i < n; i++) {
    if (!stream.write(pool[i & POOL_MASK])) {
      waits++;
      await once(stream, 'drain');
    }
  }
  return waits;
}

/** logger.info(entry) for every entry; every 1024 entries, wait for 'drain' if asked, else yield. */
async function logLines(logger: pino.Logger, pool: string[], n: number, needDrain?: { readonly writableNeedDrain: boolean } & NodeJS.EventEmitter): Promise<number> {
  let waits = 0;
  for (let i = 0; i < n; i++) {
    logger.info(pool[i & POOL_MASK]);
    if ((i & 1023) === 1023) {
      if (needDrain?.writableNeedDrain) {
        waits++;
        await once(needDrain, 'drain');
      } else await yieldLoop();
    }
  }
  return waits;
}

async function shardlogRunner(spec: E2ESpec): Promise<Runner> {
  const format = spec.format ?? 'framed';
  const log: Log = await openLog({ dir: spec.dir, shards: spec.shards ?? 1, sync: spec.sync ?? 'none', format, ringBytes: spec.ringBytes });
  const n = spec.n;
  let stats: ReturnType<Log['stats']> | undefined;
  return {
    loop: spec.shape === 'binary' ? () => appendBinary(log, binary(), n) : () => appendStrings(log, spec.shape === 'json1k' ? json1k() : ascii(), n),
    async finish() {
      await log.close();
      stats = log.stats();
    },
    verify: () => verifyShardlog(spec.dir, expectedFor(spec.shape, n), format),
    extra: () => ({
      batches: stats!.batches,
      fsyncs: stats!.fsyncs,
      meanBatchEntries: stats!.meanBatchEntries,
      meanBatchBytes: stats!.batches ? stats!.fileBytes / stats!.batches : 0,
      ringFullWaits: stats!.ringFullWaits,
    }),
  };
}

/** The line file of a stream run, in the run's own directory. */
function outFile(spec: E2ESpec): string {
  fs.mkdirSync(spec.dir, { recursive: true });
  return path.join(spec.dir, 'out.log');
}

/** A Runner over a Node-style stream that emits 'close' after end(). */
function streamRunner(spec: E2ESpec, file: string, stream: NodeJS.EventEmitter & { end(): unknown }, loop: () => Promise<number>, decoding: LineDecoding = 'raw'): Runner {
  let waits = 0;
  return {
    async loop() {
      waits = await loop();
    },
    async finish() {
      const closed = once(stream, 'close');
      stream.end();
      await closed;
      fdatasyncFile(file);
    },
    verify: () => verifyLines([file], expectedFor('ascii', spec.n), decoding),
    extra: () => ({ drainWaits: waits }),
  };
}

async function sonicRunner(spec: E2ESpec): Promise<Runner> {
  const file = outFile(spec);
  const s = new SonicBoom({ dest: file, sync: false, fsync: spec.fsync ?? false });
  await once(s, 'ready');
  return streamRunner(spec, file, s, () => writeLines(s, lines(), spec.n));
}

async function pinoDestinationRunner(spec: E2ESpec): Promise<Runner> {
  const file = outFile(spec);
  const dest = pino.destination({ dest: file, sync: false, minLength: 4096 });
  await once(dest, 'ready');
  const logger = pino({ base: null, timestamp: false }, dest);
  return streamRunner(spec, file, dest, () => logLines(logger, ascii(), spec.n), 'pino');
}

async function pinoTransportRunner(spec: E2ESpec): Promise<Runner> {
  const file = outFile(spec);
  const transport = pino.transport({ target: 'pino/file', options: { destination: file } }) as unknown as ThreadStream;
  await once(transport, 'ready');
  const logger = pino({ base: null, timestamp: false }, transport as unknown as pino.DestinationStream);
  return streamRunner(spec, file, transport, () => logLines(logger, ascii(), spec.n, transport), 'pino');
}

async function threadStreamRunner(spec: E2ESpec): Promise<Runner> {
  const file = outFile(spec);
  const ts = new ThreadStream({ filename: THREAD_WORKER, workerData: { dest: file }, sync: false });
  await once(ts, 'ready');
  return streamRunner(spec, file, ts, () => writeLines(ts, lines(), spec.n));
}

/** thread-stream fed Buffers made up front: its fastest configuration (a string costs it a Buffer.from per write). */
async function threadStreamBuffersRunner(spec: E2ESpec): Promise<Runner> {
  const file = outFile(spec);
  const ts = new ThreadStream({ filename: THREAD_WORKER, workerData: { dest: file }, sync: false });
  await once(ts, 'ready');
  // thread-stream 4 takes Buffers as they are (write(): Buffer.isBuffer(data) ? data : Buffer.from(data)); its typings say string
  const sink = ts as unknown as { write(b: Buffer): boolean } & NodeJS.EventEmitter;
  return streamRunner(spec, file, ts, () => writeLines(sink, lineBuffers(), spec.n));
}

async function fsStreamRunner(spec: E2ESpec): Promise<Runner> {
  const file = outFile(spec);
  const ws = fs.createWriteStream(file);
  await once(ws, 'open');
  return streamRunner(spec, file, ws, () => writeLines(ws, lines(), spec.n));
}

function sizeCheck(file: string, bytes: number): Verification {
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  const ok = size === bytes;
  return { ok, count: size, checksum: 0, expectedCount: bytes, expectedChecksum: 0, fileBytes: size, problem: ok ? '' : `file has ${size} bytes, ${bytes} were written` };
}

function diskResult(spec: E2ESpec, wallMs: number, bytes: number, verification: Verification, cpu: { ns: number; source: E2EResult['cpuSource'] }, extra: Record<string, number | string>): E2EResult {
  return {
    kind: 'e2e',
    id: spec.id,
    label: spec.label,
    system: spec.system,
    n: spec.n,
    entriesPerSec: NaN,
    mbPerSec: bytes / 1e6 / (wallMs / 1000),
    fileBytes: bytes,
    payloadBytes: bytes,
    wallMs,
    appendMs: wallMs,
    cpuNsPerEntry: cpu.ns,
    cpuSource: cpu.source,
    peakRssMiB: peakRssMiB(),
    gcs: 0,
    heapBytesPerEntry: NaN,
    verification,
    extra,
  };
}

const MIB = 1 << 20;

/** dd if=/dev/zero bs=1M conv=fdatasync: what the disk takes in big buffered writes and one sync at the end. */
function runDd(spec: E2ESpec): E2EResult {
  const file = path.join(spec.dir, 'dd.bin');
  const count = Math.max(1, Math.ceil((spec.bytes ?? MIB) / MIB));
  const t0 = performance.now();
  const r = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${count}`, 'conv=fdatasync'], { encoding: 'utf8' });
  const wallMs = performance.now() - t0;
  if (r.error || r.status !== 0) throw new Error(`dd failed: ${r.error?.message ?? r.stderr.trim()}`);
  // GNU dd: "209715200 bytes (210 MB, 200 MiB) copied, 0.597877 s, 351 MB/s"
  const m = /copied, ([\d.,]+) s/.exec(r.stderr);
  const ddSeconds = m ? Number(m[1].replace(',', '.')) : NaN;
  const bytes = count * MIB;
  // dd's own figure leaves out its process start; fall back to our wall clock if it is missing
  const ms = Number.isFinite(ddSeconds) && ddSeconds > 0 ? ddSeconds * 1000 : wallMs;
  return diskResult(spec, ms, bytes, sizeCheck(file, bytes), { ns: NaN, source: 'n/a' }, { ddSeconds, spawnWallMs: wallMs, count });
}

/** One writeSync + fdatasyncSync per batch of `batchBytes`, from Node: the disk's limit at that sync granularity. */
function runFdatasyncLoop(spec: E2ESpec): E2EResult {
  const file = path.join(spec.dir, 'fdatasync-loop.bin');
  const total = spec.bytes ?? MIB;
  const batch = Math.max(4096, Math.round(spec.batchBytes ?? MIB));
  const buf = Buffer.alloc(batch, 0x61);
  const fd = fs.openSync(file, 'w');
  let written = 0;
  let syncs = 0;
  const m0 = mark();
  try {
    while (written < total) {
      const n = Math.min(batch, total - written);
      let off = 0;
      while (off < n) off += fs.writeSync(fd, buf, off, n - off);
      fs.fdatasyncSync(fd);
      syncs++;
      written += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  const m1 = mark();
  const wallMs = m1.t - m0.t;
  return diskResult(spec, wallMs, written, sizeCheck(file, written), { ns: NaN, source: 'n/a' }, {
    batchBytes: batch,
    fsyncs: syncs,
    meanSyncUs: (wallMs * 1000) / syncs,
    cpuMsMainThread: (m1.cpu - m0.cpu) / 1e6,
  });
}

/** Entries of each warm-up pass (a quarter of the run, at most this many). */
export const WARMUP_MAX = 100_000;

/**
 * Warm up (the same system and code path, separate files, closed and removed), so the measured
 * pass runs optimized code as a long-running application would; then measure. Two passes: V8
 * optimizes a hot loop on stack during the first (OSR) and the function for a fresh call only
 * during the second, and until then the interpreter boxes numbers on the heap.
 */
async function warmThenMeasure(spec: E2ESpec, make: (s: E2ESpec) => Promise<Runner>): Promise<E2EResult> {
  for (let pass = 0; pass < 2; pass++) {
    const warmDir = path.join(spec.dir, `warmup${pass}`);
    const w = await make({ ...spec, n: Math.min(WARMUP_MAX, Math.ceil(spec.n / 4)), dir: warmDir });
    await w.loop();
    await w.finish();
    fs.rmSync(warmDir, { recursive: true, force: true });
  }
  return measureRunner(spec, await make({ ...spec, dir: path.join(spec.dir, 'run') }));
}

const RUNNERS: Record<Exclude<E2ESpec['system'], 'dd' | 'fdatasync-loop'>, (s: E2ESpec) => Promise<Runner>> = {
  shardlog: shardlogRunner,
  'sonic-boom': sonicRunner,
  'pino-destination': pinoDestinationRunner,
  'pino-transport': pinoTransportRunner,
  'thread-stream': threadStreamRunner,
  'thread-stream-buffers': threadStreamBuffersRunner,
  'fs-stream': fsStreamRunner,
};

export async function runE2E(spec: E2ESpec): Promise<E2EResult> {
  fs.mkdirSync(spec.dir, { recursive: true });
  if (spec.system === 'dd') return runDd(spec);
  if (spec.system === 'fdatasync-loop') return runFdatasyncLoop(spec);
  return warmThenMeasure(spec, RUNNERS[spec.system]);
}
