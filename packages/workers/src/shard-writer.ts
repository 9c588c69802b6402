/**
 * The shard writer thread: owns one shard's files, consumes its ring.
 *
 * Each pass takes everything published since the last one (up to maxBatchBytes), fills in the
 * records' CRCs, writes it with ONE writev of at most two views over the SharedArrayBuffer (two when
 * the batch wraps the ring end), zeroes what it consumed, moves HEAD, and fdatasyncs as the sync
 * policy says. Progress (written, durable) is published through Atomics; waiters are woken with
 * Atomics.notify. A failed write or sync fails the shard for good: no retry.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { recordCrc } from './crc32c.js';
import { serializeError, type SerializedError } from './errors.js';
import {
  align8,
  B_BATCHES,
  B_DURABLE,
  B_ENTRIES,
  B_FILE_BYTES,
  B_FSYNCS,
  B_LAST_SEQ,
  B_PAYLOAD,
  B_SEGMENTS,
  B_WRITEV,
  B_WRITTEN,
  CONTROL_BYTES,
  ERRNO_CODES,
  G_STATE,
  H_CRC,
  H_SEQ_HI,
  H_SEQ_LO,
  HEADER_BYTES,
  I_DURABLE_EPOCH,
  I_FAIL_CODE,
  I_HEAD,
  I_LOCK,
  I_SLEEPING,
  I_SPACE_WAITERS,
  I_STATE,
  I_SYNC_REQ,
  I_TAIL,
  ringViews,
  SEQ_HI_MASK,
  STATE_CLOSED,
  STATE_FAILED,
  STATE_RUNNING,
} from './layout.js';
import { recoverShard, type ShardRecovery } from './recovery.js';
import { Comlink, nodeEndpoint, type ShardWriterApi, type ShardWriterData, type StartResult } from './rpc.js';
import { encodeSegmentHeader, fsyncDir, SEGMENT_HEADER_BYTES, segmentFileName, shardDirName } from './segment.js';

const data = workerData as ShardWriterData;
const { i32, b64, u8, capacity, mask, sab } = ringViews(data.ring);
const g32 = new Int32Array(data.global);
const framed = data.format === 'framed';
const policy = data.sync;
const faults = data.testFaults;
const shardDir = path.join(data.dir, shardDirName(data.shard));
const maxBatch = Math.min(data.maxBatchBytes, capacity >>> 1);

let head = 0; // ring position (bytes, wraps at 2^32), mirrors I_HEAD
let written = 0; // logical bytes consumed (exact up to 2^53)
let durable = 0;
let syncedAt = Date.now();
let seenSyncReq = 0;
let closing = false;
let failed: SerializedError | undefined;
let rotateRequested = false;
let rotateWaiters: (() => void)[] = [];

// The open segment.
let fd = -1;
let segSize = 0;
let segMaxSeq = 0; // highest seq in the open segment (or the last closed one, before the first open)
let unsyncedBytes = 0;

// Counters (published as BigInt64 once per batch).
let nEntries = 0;
let nPayload = 0;
let nBatches = 0;
let nWritev = 0;
let nFsyncs = 0;
let nFileBytes = 0;
let nSegments = 0;
let lastSeq = 0;

// Batch scratch, reused.
const starts = [0, 0];
const ends = [0, 0];

function injected(what: 'write' | 'sync'): void {
  if (!faults) return;
  const at = what === 'write' ? faults.writeFailAt : faults.syncFailAt;
  const count = what === 'write' ? nWritev + 1 : nFsyncs + 1;
  if (at !== undefined && count >= at) {
    const code = faults.code ?? 'EIO';
    const err = new Error(`${code}: injected fault, ${what === 'write' ? 'writev' : 'fdatasync'}`) as NodeJS.ErrnoException;
    err.code = code;
    err.syscall = what === 'write' ? 'writev' : 'fdatasync';
    throw err;
  }
}

function openSegment(firstSeq: number, prevMaxSeq: number): void {
  fs.mkdirSync(shardDir, { recursive: true });
  const file = path.join(shardDir, segmentFileName(firstSeq, data.format));
  fd = fs.openSync(file, 'wx');
  segSize = 0;
  if (framed) {
    const h = encodeSegmentHeader({ version: 1, shard: data.shard, firstSeq, prevMaxSeq });
    injected('write');
    fs.writeSync(fd, h);
    segSize = SEGMENT_HEADER_BYTES;
    nFileBytes += SEGMENT_HEADER_BYTES;
  }
  fs.fsyncSync(fd);
  fsyncDir(shardDir);
  nSegments++;
}

function closeSegment(): void {
  if (fd < 0) return;
  if (unsyncedBytes > 0) doSync();
  fs.closeSync(fd);
  fd = -1;
}

function doSync(): void {
  injected('sync');
  fs.fdatasyncSync(fd);
  nFsyncs++;
  unsyncedBytes = 0;
  syncedAt = Date.now();
}

function publishDurable(): void {
  durable = written;
  Atomics.store(b64, B_DURABLE, BigInt(durable));
  Atomics.add(i32, I_DURABLE_EPOCH, 1);
  Atomics.notify(i32, I_DURABLE_EPOCH);
}

function publishCounters(): void {
  Atomics.store(b64, B_WRITTEN, BigInt(written));
  Atomics.store(b64, B_ENTRIES, BigInt(nEntries));
  Atomics.store(b64, B_PAYLOAD, BigInt(nPayload));
  Atomics.store(b64, B_BATCHES, BigInt(nBatches));
  Atomics.store(b64, B_WRITEV, BigInt(nWritev));
  Atomics.store(b64, B_FSYNCS, BigInt(nFsyncs));
  Atomics.store(b64, B_FILE_BYTES, BigInt(nFileBytes));
  Atomics.store(b64, B_SEGMENTS, BigInt(nSegments));
  Atomics.store(b64, B_LAST_SEQ, BigInt(lastSeq));
}

function seqAt(idx: number): number {
  const base = CONTROL_BYTES + idx;
  return (i32[(base + H_SEQ_LO) >> 2] >>> 0) + (i32[(base + H_SEQ_HI) >> 2] & SEQ_HI_MASK) * 4294967296;
}

/** Write one batch. Returns the number of ring bytes consumed (0: nothing published). */
function drainOnce(): number {
  const tail = Atomics.load(i32, I_TAIL);
  if (tail === head) return 0;
  let pos = head;
  let nRegions = 0;
  let regionStart = -1;
  let regionEnd = -1;
  let batchBytes = 0;
  let entries = 0;
  let payload = 0;
  let firstSeq = -1;
  let maxSeq = 0;
  let writeCursor = -1; // lines format: where the next payload is compacted to
  while (((tail - pos) | 0) > 0 && batchBytes < maxBatch) {
    const idx = pos & mask;
    const len = Atomics.load(i32, (CONTROL_BYTES + idx) >> 2);
    if (len === 0) break; // claimed, not yet published
    if (len < 0) {
      // padding to the end of the ring: consumed, never written
      pos = (pos - len) | 0;
      batchBytes -= len;
      continue;
    }
    if (idx !== regionEnd) {
      // a new contiguous region (first one, or after the wrap)
      if (nRegions === 2) break;
      if (nRegions === 1) {
        ends[0] = framed ? regionEnd : writeCursor;
      }
      regionStart = idx;
      starts[nRegions] = idx;
      nRegions++;
      writeCursor = idx;
    }
    const frame = align8(len);
    const seq = seqAt(idx);
    if (firstSeq < 0) firstSeq = seq;
    if (seq > maxSeq) maxSeq = seq;
    if (framed) {
      const off = CONTROL_BYTES + idx;
      i32[(off + H_CRC) >> 2] = recordCrc(u8, off, len) | 0;
    } else {
      const src = CONTROL_BYTES + idx + HEADER_BYTES;
      const n = len - HEADER_BYTES;
      u8.copyWithin(CONTROL_BYTES + writeCursor, src, src + n);
      writeCursor += n;
    }
    regionEnd = idx + frame;
    pos = (pos + frame) | 0;
    batchBytes += frame;
    entries++;
    payload += len - HEADER_BYTES;
  }
  if (batchBytes === 0) return 0;
  if (nRegions > 0) ends[nRegions - 1] = framed ? regionEnd : writeCursor;
  void regionStart;

  if (entries > 0) {
    if (fd < 0) openSegment(firstSeq, segMaxSeq);
    else if (segSize >= data.segmentBytes || rotateRequested) {
      const prevMax = segMaxSeq;
      closeSegment();
      openSegment(firstSeq, prevMax);
    }
    if (rotateRequested) {
      rotateRequested = false;
      for (const w of rotateWaiters.splice(0)) w();
    }
    let total = 0;
    const views: Uint8Array[] = [];
    for (let r = 0; r < nRegions; r++) {
      const n = ends[r] - starts[r];
      if (n > 0) {
        views.push(new Uint8Array(sab, CONTROL_BYTES + starts[r], n));
        total += n;
      }
    }
    writeAll(views, total);
    segSize += total;
    unsyncedBytes += total;
    nFileBytes += total;
    if (maxSeq > segMaxSeq) segMaxSeq = maxSeq;
    if (maxSeq > lastSeq) lastSeq = maxSeq;
  }

  // Zero what was consumed (so stale entry bytes never linger, and a zero length word means "unpublished").
  const hIdx = head & mask;
  if (hIdx + batchBytes <= capacity) {
    u8.fill(0, CONTROL_BYTES + hIdx, CONTROL_BYTES + hIdx + batchBytes);
  } else {
    u8.fill(0, CONTROL_BYTES + hIdx, CONTROL_BYTES + capacity);
    u8.fill(0, CONTROL_BYTES, CONTROL_BYTES + (hIdx + batchBytes - capacity));
  }
  head = pos;
  written += batchBytes;
  nEntries += entries;
  nPayload += payload;
  nBatches++;
  Atomics.store(i32, I_HEAD, head);
  publishCounters();
  if (Atomics.load(i32, I_SPACE_WAITERS) > 0) Atomics.notify(i32, I_HEAD);
  if (faults?.exitAfterBatches !== undefined && nBatches >= faults.exitAfterBatches) process.exit(70);
  return batchBytes;
}

/** One writev; a short write continues with the rest (the kernel may split), an error throws. */
function writeAll(views: Uint8Array[], total: number): void {
  let done = 0;
  while (done < total) {
    injected('write');
    const n = fs.writevSync(fd, views);
    nWritev++;
    done += n;
    if (done < total) {
      // drop what was written from the front of the list
      let skip = n;
      while (skip > 0 && views.length > 0) {
        if (views[0].length <= skip) {
          skip -= views[0].length;
          views.shift();
        } else {
          views[0] = views[0].subarray(skip);
          skip = 0;
        }
      }
    }
  }
}

/** Sync if the policy (or a waiter) asks for it; then publish the new durable position. */
function maybeSync(force: boolean): void {
  if (written === durable) return;
  let due = force;
  const req = Atomics.load(i32, I_SYNC_REQ);
  switch (policy.kind) {
    case 'batch':
      due = true;
      break;
    case 'bytes':
      due ||= unsyncedBytes >= policy.value || req !== seenSyncReq;
      break;
    case 'ms':
      due ||= Date.now() - syncedAt >= policy.value;
      break;
    case 'none':
      due ||= req !== seenSyncReq;
      break;
  }
  if (!due) return;
  seenSyncReq = req;
  if (fd >= 0 && unsyncedBytes > 0) doSync();
  publishDurable();
  Atomics.store(b64, B_FSYNCS, BigInt(nFsyncs));
}

function fail(e: unknown): void {
  failed = serializeError(e);
  const code = ERRNO_CODES.indexOf((failed.code ?? 'UNKNOWN') as (typeof ERRNO_CODES)[number]);
  Atomics.store(i32, I_FAIL_CODE, code < 0 ? 0 : code);
  Atomics.store(i32, I_STATE, STATE_FAILED);
  Atomics.store(g32, G_STATE, STATE_FAILED);
  Atomics.notify(i32, I_DURABLE_EPOCH);
  Atomics.notify(i32, I_HEAD);
  Atomics.notify(g32, G_STATE);
  parentPort?.postMessage({ type: 'failed', shard: data.shard, error: failed });
}

const yieldNow = () => new Promise<void>((r) => setImmediate(r));

async function run(): Promise<void> {
  let sinceYield = 0;
  for (;;) {
    if (failed) return;
    let n: number;
    try {
      n = drainOnce();
      maybeSync(false);
    } catch (e) {
      fail(e);
      return;
    }
    if (n > 0) {
      if (++sinceYield >= 16) {
        sinceYield = 0;
        await yieldNow(); // let control messages (rotate, close) in
      }
      continue;
    }
    if (closing) return;
    // Idle: sleep until a producer rings, a waiter asks for a sync, or the ms policy's timer is due.
    Atomics.store(i32, I_SLEEPING, 1);
    const pendingTail = Atomics.load(i32, I_TAIL) !== head;
    const wantsSync = Atomics.load(i32, I_SYNC_REQ) !== seenSyncReq && written !== durable && policy.kind !== 'ms';
    // (a rotation with the segment open waits for the next batch: sleep meanwhile, don't spin)
    if (wantsSync || closing || (rotateRequested && fd < 0)) {
      Atomics.store(i32, I_SLEEPING, 0);
      if (wantsSync) {
        try {
          maybeSync(true);
        } catch (e) {
          fail(e);
          return;
        }
      }
      if (rotateRequested && fd < 0) {
        rotateRequested = false;
        for (const w of rotateWaiters.splice(0)) w();
      }
      await yieldNow();
      continue;
    }
    let timeout = pendingTail ? 1 : 1000; // a claimed record is being written: look again soon
    if (policy.kind === 'ms' && written !== durable) timeout = Math.max(0, Math.min(timeout, policy.value - (Date.now() - syncedAt)));
    const w = Atomics.waitAsync(i32, I_SLEEPING, 1, timeout);
    if (w.async) await w.value;
    else await yieldNow();
    Atomics.store(i32, I_SLEEPING, 0);
    sinceYield = 0;
  }
}

let loop: Promise<void> | undefined;
let recovery: ShardRecovery | undefined;

async function finish(): Promise<{ ok: boolean; error?: SerializedError }> {
  closing = true;
  Atomics.notify(i32, I_SLEEPING);
  await loop;
  if (!failed) {
    try {
      // Records claimed before close began but not yet published: give their producers a moment.
      const deadline = Date.now() + 2000;
      while (Atomics.load(i32, I_TAIL) !== head && Date.now() < deadline) {
        if (drainOnce() === 0) await new Promise((r) => setTimeout(r, 1));
      }
      if (fd >= 0 && unsyncedBytes > 0) doSync();
      publishDurable();
      publishCounters();
      if (fd >= 0) fs.closeSync(fd);
      fd = -1;
      Atomics.store(i32, I_STATE, STATE_CLOSED);
    } catch (e) {
      fail(e);
    }
  } else if (fd >= 0) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already failed */
    }
    fd = -1;
  }
  Atomics.notify(i32, I_DURABLE_EPOCH);
  Atomics.notify(i32, I_HEAD);
  return failed ? { ok: false, error: failed } : { ok: true };
}

const api: ShardWriterApi = {
  async started(): Promise<StartResult> {
    try {
      recovery = recoverShard(data.dir, data.shard, data.format, { skipCorrupt: data.skipCorrupt });
    } catch (e) {
      return { ok: false, error: serializeError(e) };
    }
    const t = recovery.tail;
    if (t) {
      fd = fs.openSync(t.file, 'a');
      segSize = t.size;
      segMaxSeq = t.maxSeq;
    } else {
      segMaxSeq = recovery.lastSeq;
    }
    lastSeq = recovery.lastSeq;
    Atomics.store(i32, I_STATE, STATE_RUNNING);
    loop = run();
    return { ok: true, recovery };
  },
  rotate(): Promise<void> {
    if (failed || closing) return Promise.resolve();
    rotateRequested = true;
    // Nothing claimed: resolve now; the next batch still starts the new segment.
    if (Atomics.load(i32, I_TAIL) === head) return Promise.resolve();
    Atomics.notify(i32, I_SLEEPING);
    return new Promise((r) => rotateWaiters.push(r));
  },
  close: finish,
};

// A writer that ends without a clean close (an exception, process.exit in this thread, terminate)
// must not leave producers waiting: mark the shard failed on the way out.
process.on('exit', (code) => {
  if (Atomics.load(i32, I_STATE) === STATE_CLOSED || failed) return;
  const idx = ERRNO_CODES.indexOf('WORKER_EXIT');
  Atomics.store(i32, I_FAIL_CODE, idx);
  Atomics.store(i32, I_STATE, STATE_FAILED);
  Atomics.store(g32, G_STATE, STATE_FAILED);
  Atomics.notify(i32, I_DURABLE_EPOCH);
  Atomics.notify(i32, I_HEAD);
  Atomics.notify(i32, I_LOCK);
  void code;
});

Comlink.expose(api, nodeEndpoint(parentPort));
