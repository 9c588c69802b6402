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
import { recordCrcAligned } from './crc32c.js';
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
  I_STALL_MS,
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
const f64 = new Float64Array(sab);
const framed = data.format === 'framed';
const policy = data.sync;
const faults = data.testFaults;
const shardDir = path.join(data.dir, shardDirName(data.shard));
const maxBatch = Math.min(data.maxBatchBytes, capacity >>> 1);

let head = Atomics.load(i32, I_HEAD); // ring position (bytes, wraps at 2^32); 0 unless a test starts it elsewhere
let written = head >>> 0; // logical bytes consumed (exact up to 2^53); written mod 2^32 == head
let durable = written;
let syncedAt = Date.now();
let seenSyncReq = 0;
let closing = false;
let failed: SerializedError | undefined;
let rotateRequested = false;
let stalledAt = -1; // ring position where a claimed record was first seen unpublished
let stalledSince = 0;
let rotateWaiters: (() => void)[] = [];

// The open segment.
let fd = -1;
let segSize = 0;
let segMaxSeq = 0; // highest seq in the open segment (or the last closed one, before the first open)
let unsyncedBytes = 0;
let syncing = false; // a background fdatasync is in flight
let dirDirty = false; // a segment was created (header written, file and directory not yet synced)
let syncDone: Promise<void> = Promise.resolve();

// Counters (published as BigInt64 once per batch).
let nEntries = 0;
let nPayload = 0;
let nBatches = 0;
let nWritev = 0;
let nFsyncs = 0;
let nFileBytes = 0;
let nSegments = 0;
let lastSeq = 0;

const sleepCell = new Int32Array(new SharedArrayBuffer(4)); // for the batchDelayMs test hook

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
  if (fs.mkdirSync(shardDir, { recursive: true }) !== undefined) fsyncDir(data.dir); // a new shard directory: make its entry durable
  const file = path.join(shardDir, segmentFileName(firstSeq, data.format));
  fd = fs.openSync(file, 'wx');
  segSize = 0;
  if (framed) {
    const h = encodeSegmentHeader({ version: 1, shard: data.shard, firstSeq, prevMaxSeq });
    injected('write');
    fs.writeSync(fd, h);
    segSize = SEGMENT_HEADER_BYTES;
    nFileBytes += SEGMENT_HEADER_BYTES;
    unsyncedBytes += SEGMENT_HEADER_BYTES;
  }
  // The new file's header and its directory entry are synced at the next sync point, before anything
  // in it is acknowledged (a crash before that leaves a last segment with a zero header, which
  // recovery removes: nothing in it was durable). The previous segment was synced before it closed.
  dirDirty = true;
  nSegments++;
}

/**
 * Sync what is left of the open segment and close it: the next batch starts a new one. Keeps the
 * invariant recovery relies on: only a shard's LAST segment can hold bytes that were never synced.
 * Never while a background sync is in flight (run() waits for it, writing on meanwhile).
 */
function closeSegment(): void {
  if (fd < 0) return;
  if (syncing) throw new Error('internal: closeSegment while a sync is in flight');
  if (unsyncedBytes > 0 || dirDirty) syncInline();
  fs.closeSync(fd);
  fd = -1;
}

/** Whatever the policy, unsynced bytes past this are flushed in the background (see maybeSync). */
const FLUSH_BEHIND_BYTES = 16 << 20;

/** At a roll, a remainder up to this size is synced inline; more is flushed in the background first. */
const ROLL_INLINE_BYTES = 1 << 20;
let rollFlushed = false; // this roll already flushed in the background once

/** fdatasync in this thread, now: the open segment, and the directory if a segment was created; all written becomes durable. */
function syncInline(): void {
  injected('sync');
  if (fd >= 0) fs.fdatasyncSync(fd);
  if (dirDirty) {
    dirDirty = false;
    fsyncDir(shardDir);
  }
  unsyncedBytes = 0;
  synced(written);
}

const fdatasyncAsync = (f: number) => new Promise<void>((res, rej) => fs.fdatasync(f, (e) => (e ? rej(e) : res())));
const fsyncAsync = (f: number) => new Promise<void>((res, rej) => fs.fsync(f, (e) => (e ? rej(e) : res())));


/**
 * Group commit, pipelined: fdatasync on libuv's pool while this thread goes on writing the next
 * batch. When it completes, everything written before it started is durable. One in flight at a time.
 */
function syncInBackground(): void {
  injected('sync');
  const target = written;
  const f = fd;
  const dir = dirDirty;
  dirDirty = false;
  syncing = true;
  unsyncedBytes = 0;
  syncDone = (async () => {
    try {
      if (f >= 0) await fdatasyncAsync(f);
      if (dir) {
        const dfd = fs.openSync(shardDir, 'r');
        try {
          await fsyncAsync(dfd);
        } finally {
          fs.closeSync(dfd);
        }
      }
      syncing = false;
      synced(target);
    } catch (e) {
      syncing = false;
      fail(e);
    }
    Atomics.notify(i32, I_SLEEPING); // wake this thread's own idle wait
  })();
}

function synced(target: number): void {
  nFsyncs++;
  Atomics.store(b64, B_FSYNCS, BigInt(nFsyncs)); // before DURABLE moves, so a woken waiter sees it
  syncedAt = Date.now();
  publishDurable(target);
}

function publishDurable(target: number): void {
  if (target <= durable) return;
  durable = target;
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
  let regionEnd = -1;
  let batchBytes = 0;
  let entries = 0;
  let payload = 0;
  let firstSeq = -1;
  let lastIdx = -1;
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
      starts[nRegions] = idx;
      nRegions++;
      writeCursor = idx;
    }
    const frame = align8(len);
    // a shard's records are in sequence order: only the first and the last of a batch are read
    if (firstSeq < 0) firstSeq = seqAt(idx);
    lastIdx = idx;
    if (framed) {
      const off = CONTROL_BYTES + idx;
      i32[(off + H_CRC) >> 2] = recordCrcAligned(u8, i32, off, len) | 0;
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
  const maxSeq = lastIdx >= 0 ? seqAt(lastIdx) : 0;
  if (nRegions > 0) ends[nRegions - 1] = framed ? regionEnd : writeCursor;

  if (entries > 0) {
    if (fd < 0) openSegment(firstSeq, segMaxSeq);
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
    if (faults?.batchDelayMs) Atomics.wait(sleepCell, 0, 0, faults.batchDelayMs);
    segSize += total;
    unsyncedBytes += total;
    nFileBytes += total;
    if (maxSeq > segMaxSeq) segMaxSeq = maxSeq;
    if (maxSeq > lastSeq) lastSeq = maxSeq;
  }

  // Zero what was consumed (so stale entry bytes never linger, and a zero length word means "unpublished").
  // Everything here is 8-aligned: a Float64 view zeroes shared memory 3-5x faster than a byte view.
  const hIdx = head & mask;
  const z = (CONTROL_BYTES + hIdx) >> 3;
  if (hIdx + batchBytes <= capacity) {
    f64.fill(0, z, z + (batchBytes >> 3));
  } else {
    f64.fill(0, z, (CONTROL_BYTES + capacity) >> 3);
    f64.fill(0, CONTROL_BYTES >> 3, (CONTROL_BYTES + (hIdx + batchBytes - capacity)) >> 3);
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
  if (written === durable || syncing) return;
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
  if (!due && unsyncedBytes >= FLUSH_BEHIND_BYTES) {
    // Flush behind (RocksDB's bytes_per_sync): with many dirty pages the kernel throttles writers
    // and each writev gets several times dearer. A background fdatasync (libuv's pool) keeps the
    // dirty set small at no cost to this thread, and what it covers becomes durable.
    seenSyncReq = req;
    syncInBackground();
    return;
  }
  if (!due) return;
  seenSyncReq = req;
  if (unsyncedBytes === 0 && !dirDirty) {
    publishDurable(written); // nothing left unsynced
    return;
  }
  // More is waiting in the ring: overlap this sync with writing it. Otherwise sync inline (lower latency).
  if (Atomics.load(i32, I_TAIL) !== head) syncInBackground();
  else syncInline();
}

function fail(e: unknown): void {
  if (failed) return;
  failed = serializeError(e);
  for (const w of rotateWaiters.splice(0)) w();
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
      if (rotateRequested && fd < 0) {
        // nothing open: done at once (what is appended after rotate() resolves starts a new segment)
        rotateRequested = false;
        for (const w of rotateWaiters.splice(0)) w();
      }
      n = drainOnce();
      // Roll (size reached, or rotate() asked, after the batch that held what was appended before it).
      // It comes before policy syncs, or a steady stream of background syncs would starve it. A large
      // unsynced tail is flushed once in the background while writing on into the same segment; then
      // the remainder is synced inline and the segment closed; the next batch starts a new one.
      if (fd >= 0 && (segSize >= data.segmentBytes || rotateRequested)) {
        if (syncing) {
          // wait for the sync in flight, writing on into this segment meanwhile
        } else if (unsyncedBytes > ROLL_INLINE_BYTES && !rollFlushed) {
          rollFlushed = true;
          syncInBackground();
        } else {
          rollFlushed = false;
          closeSegment();
          if (rotateRequested) {
            rotateRequested = false;
            for (const w of rotateWaiters.splice(0)) w();
          }
        }
      } else {
        maybeSync(false);
      }
    } catch (e) {
      fail(e);
      for (const w of rotateWaiters.splice(0)) w();
      return;
    }
    if (n > 0) {
      if (syncing || ++sinceYield >= 16) {
        sinceYield = 0;
        await yieldNow(); // let control messages (rotate, close) in
      }
      continue;
    }
    if (closing) return;
    // Idle: sleep until a producer rings, a waiter asks for a sync, or the ms policy's timer is due.
    Atomics.store(i32, I_SLEEPING, 1);
    const pendingTail = Atomics.load(i32, I_TAIL) !== head;
    const wantsSync = !syncing && Atomics.load(i32, I_SYNC_REQ) !== seenSyncReq && written !== durable && policy.kind !== 'ms';
    if (wantsSync || closing || (rotateRequested && !syncing)) {
      Atomics.store(i32, I_SLEEPING, 0);
      if (wantsSync) {
        try {
          maybeSync(true);
        } catch (e) {
          fail(e);
          return;
        }
      }
      await yieldNow();
      continue;
    }
    if (pendingTail) {
      // A record is claimed but not published. A producer copies for microseconds; one that died
      // between claim and publish (a killed thread) would stall this shard forever: fail it loudly.
      if (stalledAt !== head) {
        stalledAt = head;
        stalledSince = Date.now();
      } else if (Date.now() - stalledSince > Atomics.load(i32, I_STALL_MS)) {
        const e = new Error(
          `a record claimed at ring position ${head >>> 0} was not published within ${Atomics.load(i32, I_STALL_MS)} ms: a producer thread died or stalled mid-append`,
        ) as NodeJS.ErrnoException;
        e.code = 'ESTALLED';
        fail(e);
        return;
      }
    } else stalledAt = -1;
    let timeout = pendingTail ? 1 : 1000; // a claimed record is being written: look again soon
    if (policy.kind === 'ms' && written !== durable && !syncing) timeout = Math.max(0, Math.min(timeout, policy.value - (Date.now() - syncedAt)));
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
  if (syncing) await syncDone;
  if (!failed) {
    try {
      // Records claimed before close began but not yet published: give their producers a moment.
      const deadline = Date.now() + 2000;
      while (Atomics.load(i32, I_TAIL) !== head && Date.now() < deadline) {
        if (drainOnce() === 0) await new Promise((r) => setTimeout(r, 1));
      }
      // sync what is left (always, whatever the policy), publish it, close the file
      closeSegment();
      publishDurable(written);
      publishCounters();
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
    rotateRequested = true; // run() closes the open segment after draining what is pending, then resolves
    Atomics.notify(i32, I_SLEEPING);
    return new Promise((r) => rotateWaiters.push(r));
  },
  close: finish,
};

// A writer that ends without a clean close (an exception, process.exit in this thread, terminate)
// must not leave producers waiting: mark the shard failed on the way out.
process.on('exit', () => {
  if (Atomics.load(i32, I_STATE) === STATE_CLOSED || failed) return;
  const idx = ERRNO_CODES.indexOf('WORKER_EXIT');
  Atomics.store(i32, I_FAIL_CODE, idx);
  Atomics.store(i32, I_STATE, STATE_FAILED);
  Atomics.store(g32, G_STATE, STATE_FAILED);
  Atomics.notify(i32, I_DURABLE_EPOCH);
  Atomics.notify(i32, I_HEAD);
  Atomics.notify(i32, I_LOCK);
});

Comlink.expose(api, nodeEndpoint(parentPort));
