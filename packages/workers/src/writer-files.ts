/**
 * The shard writer's files: the open segment (create, adopt after recovery, write, close at a roll)
 * and its syncs, inline or in the background on libuv's pool (pipelined group commit, flush-behind).
 * Keeps the invariant recovery relies on: only a shard's LAST segment can hold bytes never synced
 * (docs/FORMAT.md 3.6, docs/DESIGN-NOTES.md 5 and 11).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Format } from './record-layout.js';
import type { TestFaults } from './rpc.js';
import { encodeSegmentHeader, fsyncDir, SEGMENT_FLAG_ENCRYPTED, SEGMENT_HEADER_CRC_V2, SEGMENT_VERSION, segmentFileName, segmentHeaderBytes } from './segment.js';
import type { WriterCounters } from './writer-counters.js';
import { injectFault } from './writer-faults.js';
import type { SyncTrace } from './writer-trace.js';
import { keyFor, type KeyRing } from './encryption-keys.js';
import { deriveSegmentKey, FrameSealer, keyCheck, newSalt } from './frame-crypto.js';

export interface SegmentFilesConfig {
  shardDir: string;
  shard: number;
  format: Format;
  faults: TestFaults | undefined;
  /** Encrypted: seal new segments under ring.keyId, bound to the log id. */
  crypto?: { ring: KeyRing; logId: string };
  /** The latency breakdown's trace (tests and benchmarks only). */
  trace?: SyncTrace;
}

/** Called when a sync covering the first `target` logical bytes (up to seq `seq`) completed. */
export type SyncedFn = (target: number, seq: number) => void;

const fdatasyncAsync = (f: number) => new Promise<void>((res, rej) => fs.fdatasync(f, (e) => (e ? rej(e) : res())));
const fsyncAsync = (f: number) => new Promise<void>((res, rej) => fs.fsync(f, (e) => (e ? rej(e) : res())));

export class SegmentFiles {
  /** The open segment, -1 if none. */
  fd = -1;
  /** Its size in bytes (header included). */
  size = 0;
  /** Highest seq in the open segment (or the last closed one, before the next opens). */
  maxSeq = 0;
  /** Bytes written since the last sync started. */
  unsynced = 0;
  /** A segment was created: its header and the directory entry are not yet synced. */
  dirDirty = false;
  /** A background fdatasync is in flight. */
  syncing = false;
  syncDone: Promise<void> = Promise.resolve();
  /** The crc field of the open segment's last frame (its header's CRC before the first): the next frame's prevCrc. */
  chain = 0;
  /** Encrypted: seals the open segment's frames (its key lives as long as the segment). */
  sealer: FrameSealer | undefined;
  /** The format version of the segments this writer creates (framed). */
  readonly version: number;
  private readonly headerBytes: number;

  constructor(
    private readonly cfg: SegmentFilesConfig,
    private readonly counters: WriterCounters,
    private readonly synced: SyncedFn,
    private readonly failed: (e: unknown) => void,
    private readonly wakeSelf: () => void,
  ) {
    this.version = cfg.crypto ? SEGMENT_VERSION : cfg.faults?.segmentVersion ?? (process.env.SHARDLOG_TEST_SEGMENT_VERSION === '1' ? 1 : SEGMENT_VERSION);
    this.headerBytes = cfg.format === 'framed' ? segmentHeaderBytes(this.version) : 0;
  }

  /** The open segment holds no record (only its header): a crash cut all of them. */
  get openAndEmpty(): boolean {
    return this.fd >= 0 && this.size <= this.headerBytes;
  }

  /**
   * Append to the last segment recovery kept (`maxSeq` its highest seq, `chain` its last frame's crc).
   * A segment of another format version (version 1, from an older build) or one whose chain is
   * unknown (-1) is not appended to: the next batch starts a new segment (and an empty one is removed).
   */
  adopt(file: string, size: number, maxSeq: number, version = SEGMENT_VERSION, chain = -1): void {
    this.maxSeq = maxSeq;
    // An encrypted log never appends to a segment it did not create in this open: recovery may have
    // cut frames whose nonces (frame indexes) would be used again for other plaintext under one key.
    if (this.cfg.crypto || (this.cfg.format === 'framed' && (version !== this.version || (version === 2 && chain === -1)))) {
      // Not appended to. One that holds no record (only its header) would share its name with the
      // next segment (the next seq may be its very name): it holds nothing, so it goes.
      if (this.cfg.format === 'framed' && size <= segmentHeaderBytes(version)) {
        fs.unlinkSync(file);
        fsyncDir(this.cfg.shardDir);
      }
      return;
    }
    this.chain = chain;
    this.fd = fs.openSync(file, 'a');
    this.size = size;
    this.maxSeq = maxSeq;
    if (this.cfg.format === 'lines') linkCurrent(this.cfg.shardDir, path.basename(file));
  }

  /** Create the segment named `firstSeq` (its header links to the previous one's highest seq). */
  open(firstSeq: number): void {
    const { shardDir, format, shard, faults } = this.cfg;
    if (fs.mkdirSync(shardDir, { recursive: true }) !== undefined) fsyncDir(path.dirname(shardDir)); // a new shard directory: make its entry durable
    // Lines segments are opened O_APPEND: a log tool's copytruncate then leaves no hole of NUL bytes
    // (each write lands at the file's end, wherever that is now).
    const name = segmentFileName(firstSeq, format);
    this.fd = fs.openSync(path.join(shardDir, name), format === 'lines' ? 'ax' : 'wx');
    this.size = 0;
    if (format === 'lines') linkCurrent(shardDir, name);
    if (format === 'framed') {
      const h = this.cfg.crypto && this.version === 2 ? this.sealedHeader(firstSeq) : encodeSegmentHeader({ version: this.version, shard, firstSeq, prevMaxSeq: this.maxSeq });
      if (this.version === 2) this.chain = new DataView(h.buffer, h.byteOffset).getUint32(SEGMENT_HEADER_CRC_V2, true);
      injectFault(faults, 'write', this.counters.writev + 1);
      fs.writeSync(this.fd, h);
      this.size = h.length;
      this.counters.fileBytes += h.length;
      this.unsynced += h.length;
    }
    // The new file's header and its directory entry are synced at the next sync point, before anything
    // in it is acknowledged (a crash before that leaves a last segment with a zero header, which
    // recovery removes: nothing in it was durable). The previous segment was synced before it closed.
    this.dirDirty = true;
    this.counters.segments++;
  }

  /** An encrypted segment's header (fresh salt, key id, keyCheck); its sealer is made ready. */
  private sealedHeader(firstSeq: number): Uint8Array {
    const { ring, logId } = this.cfg.crypto!;
    const keyId = ring.keyId!;
    const salt = newSalt();
    const key = deriveSegmentKey(keyFor(ring, keyId), { logId, shard: this.cfg.shard, firstSeq, salt });
    const h = encodeSegmentHeader({ version: 2, shard: this.cfg.shard, firstSeq, prevMaxSeq: this.maxSeq, flags: SEGMENT_FLAG_ENCRYPTED, salt, keyId, keyCheck: keyCheck(key) });
    this.sealer?.dispose();
    this.sealer = new FrameSealer(key, h);
    return h;
  }

  /** One writev; a short write continues with the rest (the kernel may split), an error throws. */
  write(views: Uint8Array[], total: number, maxSeq: number): void {
    let done = 0;
    while (done < total) {
      injectFault(this.cfg.faults, 'write', this.counters.writev + 1);
      const n = fs.writevSync(this.fd, views);
      this.counters.writev++;
      done += n;
      if (done < total) dropFront(views, n);
    }
    this.size += total;
    this.unsynced += total;
    this.counters.fileBytes += total;
    if (maxSeq > this.maxSeq) this.maxSeq = maxSeq;
  }

  /**
   * Sync what is left of the open segment and close it: the next batch starts a new one. Never
   * while a background sync is in flight (the writer waits for it, writing on meanwhile).
   */
  close(written: number, lastSeq: number): void {
    if (this.fd < 0) return;
    if (this.syncing) throw new Error('internal: closing a segment while a sync is in flight');
    if (this.unsynced > 0 || this.dirDirty) this.syncInline(written, lastSeq);
    fs.closeSync(this.fd);
    this.fd = -1;
    this.sealer?.dispose();
    this.sealer = undefined;
  }

  /** Close without syncing (the shard failed). */
  abandon(): void {
    if (this.fd < 0) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already failed */
    }
    this.fd = -1;
    this.sealer?.dispose();
    this.sealer = undefined;
  }

  /** fdatasync in this thread, now: the open segment, and the directory if a segment was created. */
  syncInline(target: number, seq: number): void {
    injectFault(this.cfg.faults, 'sync', this.counters.fsyncs + 1);
    const trace = this.cfg.trace;
    const t0 = trace ? trace.syncStarting() : 0;
    if (this.fd >= 0) fs.fdatasyncSync(this.fd);
    if (this.dirDirty) {
      this.dirDirty = false;
      fsyncDir(this.cfg.shardDir);
    }
    this.unsynced = 0;
    trace?.synced('inline', t0, seq);
    this.synced(target, seq);
  }

  /**
   * Group commit, pipelined: fdatasync on libuv's pool while the writer goes on writing the next
   * batch. When it completes, everything written before it started (`target`, up to `seq`) is durable.
   * One in flight at a time.
   */
  syncInBackground(target: number, seq: number): void {
    injectFault(this.cfg.faults, 'sync', this.counters.fsyncs + 1);
    const f = this.fd;
    const dir = this.dirDirty;
    this.dirDirty = false;
    this.syncing = true;
    this.unsynced = 0;
    const trace = this.cfg.trace;
    const t0 = trace ? trace.now() : 0;
    this.syncDone = (async () => {
      try {
        if (f >= 0) await fdatasyncAsync(f);
        if (dir) await this.syncDirAsync();
        trace?.synced('background', t0, seq);
        this.syncing = false;
        this.synced(target, seq);
      } catch (e) {
        this.syncing = false;
        this.failed(e);
      }
      this.wakeSelf();
    })();
  }

  private async syncDirAsync(): Promise<void> {
    const dfd = fs.openSync(this.cfg.shardDir, 'r');
    try {
      await fsyncAsync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }
}

/** The name of the symlink to a lines shard's current segment, for `tail -F` and log tools. */
export const CURRENT_LINK = 'current.log';

/** Point the shard's current.log at `name`, replacing the old link atomically (a new link renamed over it). */
function linkCurrent(shardDir: string, name: string): void {
  const tmp = path.join(shardDir, `.${CURRENT_LINK}.tmp`);
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(name, tmp);
  fs.renameSync(tmp, path.join(shardDir, CURRENT_LINK));
}

/** Drop the first `n` bytes from a list of views (after a short writev). */
function dropFront(views: Uint8Array[], n: number): void {
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
