/**
 * The one reader of segment files. Recovery, verify, readLog/readShard, follow's cursor and the CLI
 * all walk segments through SegmentScanner (framed) or scanLineSegment (lines, line-scanner.ts), so
 * the header check (segment-header.ts), the record check and the torn-versus-corrupt rule exist once.
 *
 * A segment in format version 2 (docs/FORMAT.md 2) is read frame by frame: a frame is checked whole
 * (length fields, CRC, the chain to the previous frame, its records' structure: frame.ts), then its
 * records are yielded; a bad frame is judged by the same rule as a bad record in version 1, and a
 * frame whose CRC holds but whose chain does not (dropped, reordered or spliced frames) is
 * corruption wherever it lies. The scanner decides per segment, by the header's version.
 *
 * In the spirit of LevelDB's log::Reader and etcd's WAL decoder: the scanner opens a segment, checks
 * its header once, reads the file in bounded chunks (one chunk, or one record if a record is larger,
 * whatever the segment's size), yields records, and ends with a typed verdict instead of a message:
 *
 *   clean       the scan reached the end of the file on a record boundary
 *   torn        a bad record with nothing valid after it, or only zero bytes up to the next valid
 *               record (never durable: recovery cuts it)
 *   corrupt     a bad record with valid records after it across non-zero bytes, or any bad record
 *               in a segment that is not the shard's last (synced data was damaged); resumeAt is the
 *               next valid record, -1 if none
 *   live-end    (live scans) the end of a file that is still being written: not yet whole
 *   removed     the file is gone (retention removed it)
 *   unfinished  a last segment whose header never reached the disk (a crash while creating it)
 *
 * A record that looks bad is re-read from the file before it is called corrupt: a writer may have
 * been writing it while valid records after it were already visible, so a scan of a live file never
 * mistakes a write in progress for damage (docs/FORMAT.md, 4.4).
 */
import * as fs from 'node:fs';
import { crc32cUpdate, maskCrc } from './crc32c.js';
import { align8, H_CRC, H_LEN, H_SEQ_HI, HEADER_BYTES, TYPE_BYTES, TYPE_SHIFT, TYPE_UTF8 } from './record-layout.js';
import { KeyError, LogFormatError } from './errors.js';
import type { KeyRing } from './encryption-keys.js';
import { checkFrame, checkFrameHeader, checkFrameRecords, F_BODY, F_CRC, F_FLAGS, FRAME_BAD_RECORDS, FRAME_FLAG_ENCRYPTED, FRAME_HEADER_BYTES, MAX_FRAME } from './frame.js';
import { FrameOpener, GCM_TAG_BYTES, openSegmentKey } from './frame-crypto.js';
import { checkRecord, readSeq, SEGMENT_FLAG_ENCRYPTED, SEGMENT_HEADER_BYTES_V1, segmentHeaderBytes, type SegmentHeader, type SegmentRef } from './segment.js';
import { checkSegmentHead, readHead } from './segment-header.js';

/** Why a record at some offset is not a whole valid record. */
export type RecordFault = 'short' | 'bad-length' | 'bad-type' | 'bad-crc' | 'padding' | 'bad-chain' | 'bad-records' | 'bad-tag';

const FAULT_TEXT: Record<RecordFault, string> = {
  short: 'record runs past the end of the file',
  'bad-length': 'record length is impossible',
  'bad-type': 'record type is unknown',
  'bad-crc': 'record checksum mismatch',
  padding: 'record padding runs past the end of the file',
  'bad-chain': 'frame is out of its chain',
  'bad-records': 'frame records are inconsistent',
  'bad-tag': 'frame fails authentication',
};

/** The same faults of a frame (format version 2). */
const FRAME_TEXT: Record<RecordFault, string> = {
  short: 'frame runs past the end of the file',
  'bad-length': 'frame length is impossible',
  'bad-type': 'frame type is unknown',
  'bad-crc': 'frame checksum mismatch',
  padding: 'frame padding runs past the end of the file',
  'bad-chain': "frame does not follow the previous frame (its prevCrc is not the previous frame's crc: a frame was dropped, reordered or copied from elsewhere)",
  'bad-records': 'frame records are inconsistent with its header',
  'bad-tag': 'frame fails authentication (AES-GCM tag): tampered with, or moved from elsewhere',
};

/** A verdict's reason: a stable code and the sentence users see (made here, and only here). */
export interface ScanReason {
  code: RecordFault;
  message: string;
}

export type ScanVerdict =
  | { kind: 'clean'; offset: number }
  | { kind: 'torn'; offset: number; bytes: number; hole: boolean; reason: ScanReason }
  | { kind: 'corrupt'; offset: number; bytes: number; resumeAt: number; reason: ScanReason }
  | { kind: 'live-end'; offset: number; reason: ScanReason }
  | { kind: 'removed' }
  | { kind: 'unfinished' };

export interface ScanOptions {
  /** The shard's last segment, where a torn end is expected (default true). Settable later. */
  last?: boolean;
  /**
   * A file still being written: a record that runs past the current end is its unwritten end
   * (verdict 'live-end', judged no further), and a torn end is 'live-end' too. Default false.
   */
  live?: boolean;
  /** Bytes read at a time (default 1 MiB, at most 4 MiB). */
  chunkBytes?: number;
  /** Load each record's payload (default true); false for scans that only count and check. */
  payloads?: boolean;
  /** Encrypted segments: the keys that may open them, and the log's id (manifest `id`) their keys are bound to. */
  keys?: KeyRing;
  logId?: string;
}

const MAX_CHUNK = 4 << 20;
const MAX_RECORD = 0x7ffffff0;
const RECORD_FAULTS: Record<number, RecordFault> = { [-1]: 'short', [-2]: 'bad-length', [-3]: 'bad-type', [-4]: 'bad-crc', [-6]: 'bad-chain', [-7]: 'bad-records', [-8]: 'bad-tag' };
/** A frame whose CRC and chain hold but whose AES-GCM tag does not. */
const FRAME_BAD_TAG = -8;
/** The smallest frame: its header, one record header and the tag. */
const MIN_FRAME_BYTES = 64;
/** Most (index, tag) guesses reopenChain makes for one frame (each an AES-GCM open of it). */
const RESYNC_TRIES = 64;
const EMPTY = Buffer.alloc(0);

function reason(code: RecordFault, suffix = '', frames = false): ScanReason {
  return { code, message: (frames ? FRAME_TEXT : FAULT_TEXT)[code] + suffix };
}

/**
 * One framed segment, scanned record by record. `next()` returns true with the record in
 * offset/seq/type/length (payload() for its bytes), or false with `verdict` set. After 'clean',
 * 'live-end', 'torn' or 'corrupt', next() may be called again: it looks at the file afresh from the
 * same place (a live file may have grown); after 'corrupt', resume() moves past the bad bytes.
 */
export class SegmentScanner {
  readonly file: string;
  readonly shard: number;
  readonly firstSeq: number;
  /** The segment's header, once checked (undefined when removed or unfinished). */
  header: SegmentHeader | undefined;
  /** Why the last next() returned false. */
  verdict: ScanVerdict | undefined;
  /** The shard's last segment (see ScanOptions). */
  last: boolean;
  live: boolean;
  /** The current record. */
  offset = 0;
  seq = 0;
  type = 0;
  length = 0;
  private fd = -1;
  private readonly chunk: number;
  private readonly payloads: boolean;
  private size = 0;
  private buf: Buffer = EMPTY;
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private bufStart = 0;
  private pos = SEGMENT_HEADER_BYTES_V1;
  /** For streaming CRCs of records larger than a chunk. */
  private scratch: Buffer | undefined;
  /** Format version 2: records come in frames. */
  private frames = false;
  /** The current frame (version 2): its start, the end of its records, the next frame's offset. */
  private frameStart = -1;
  private frameBodyEnd = -1;
  private frameNext = -1;
  /** The prevCrc the current frame was checked against (-1: not checked), and the crc the next frame must carry. */
  private frameChainIn = -1;
  private chain = -1;
  /** An encrypted segment: its frames are opened in order by `opener` (undefined without its key). */
  private sealed = false;
  /** resume() moved past damage in this segment: an encrypted frame after it may take the chain up again (reopenChain). */
  private resumed = false;
  /** While reopenChain has not found the chain again: the frames opened before the damage. */
  private resyncBase = -1;
  private opener: FrameOpener | undefined;
  /** The frame `opener` opened last (its start), -1 when none. */
  private openedAt = -1;
  /** Where the frame `opener` can open next starts. */
  private openerNext = -1;
  private readonly keys: KeyRing | undefined;
  private readonly logId: string | undefined;

  /** Opens and checks the header; a foreign or damaged header is a LogFormatError (the file is closed). */
  constructor(ref: SegmentRef, opts: ScanOptions = {}) {
    this.file = ref.file;
    this.shard = ref.shard;
    this.firstSeq = ref.firstSeq;
    this.last = opts.last ?? true;
    this.live = opts.live ?? false;
    this.chunk = Math.max(HEADER_BYTES, Math.min(MAX_CHUNK, opts.chunkBytes ?? 1 << 20));
    this.payloads = opts.payloads ?? true;
    this.keys = opts.keys;
    this.logId = opts.logId;
    try {
      this.fd = fs.openSync(ref.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.verdict = { kind: 'removed' };
      return;
    }
    try {
      this.checkHeader(ref);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private checkHeader(ref: SegmentRef): void {
    const st = fs.fstatSync(this.fd);
    if (!st.isFile()) throw new LogFormatError(ref.file, 'a segment name taken by something that is not a regular file');
    this.size = st.size;
    const head = readHead(this.fd);
    const h = checkSegmentHead(head, ref, this.last);
    if (h) {
      this.header = h;
      if (h.version === 2 && (h.flags ?? 0) & SEGMENT_FLAG_ENCRYPTED) this.openCrypto(h, head);
      this.pos = segmentHeaderBytes(h.version);
      this.frames = h.version === 2;
      this.chain = h.crc ?? -1;
      return;
    }
    this.verdict = { kind: 'unfinished' };
    this.close();
  }

  /** An encrypted segment: check the key against the header's keyCheck (KeyError if missing or wrong). */
  private openCrypto(h: SegmentHeader, head: Uint8Array): void {
    this.sealed = true;
    if (!this.keys) return; // no keys: the first frame is a KeyError (the header alone can be listed)
    if (h.keyId === undefined || !h.salt || !h.keyCheck) throw new LogFormatError(this.file, 'encrypted segment header without its key id, salt or key check');
    const key = openSegmentKey(this.keys, h.keyId, { logId: this.logId ?? '', shard: h.shard, firstSeq: h.firstSeq, salt: h.salt }, h.keyCheck, this.file);
    this.opener = new FrameOpener(key, head);
    this.openerNext = segmentHeaderBytes(2);
  }

  /**
   * An encrypted frame at `off` (whole in the buffer, CRC and chain good): open it in place, so its
   * records are read as plaintext; 0, or FRAME_BAD_TAG, or the records' fault. Frames open in order:
   * one whose predecessor was not opened (after damage) cannot be, and fails like a bad tag.
   */
  private unseal(off: number, len: number): number {
    const h = this.header!;
    if (!this.opener) throw new KeyError(h.keyId ?? '?', 'the segment is encrypted and no keys were given', this.file);
    if (off === this.openedAt && this.opener.back()) this.openerNext = off; // the same frame again
    this.openedAt = -1;
    const o = off - this.bufStart;
    const body = this.buf.readUInt32LE(o + F_BODY);
    const start = o + FRAME_HEADER_BYTES;
    const ciphertext = this.buf.subarray(start, start + body);
    const tag = this.buf.subarray(start + body, start + body + GCM_TAG_BYTES);
    let plain: Buffer | null;
    if (off === this.openerNext) plain = this.opener.open(this.buf, o, ciphertext, tag);
    else if (this.resumed && off > this.openerNext) plain = this.reopenChain(off, o, ciphertext, tag); // past skipped damage
    else return FRAME_BAD_TAG; // not the frame the chain of tags continues with
    if (!plain) return FRAME_BAD_TAG;
    this.buf.set(plain, start);
    plain.fill(0);
    this.openedAt = off;
    this.openerNext = off + align8(len);
    return checkFrameRecords(this.dv, o) ? 0 : FRAME_BAD_RECORDS;
  }

  /**
   * The first frame after skipped damage: each frame's nonce is its index in the segment and its AAD
   * ends with the previous frame's tag, so take the chain up again from what the file holds: the tag
   * just before `off` (the previous frame's last 16 bytes, before 0-7 zero bytes of padding) and an
   * index past the frames opened so far (at most one frame per 64 bytes skipped). Tries each, at most
   * RESYNC_TRIES in all; null if none opens the frame (its predecessor's tag was damaged too: the next
   * frame is tried from this one's tag in turn).
   */
  private reopenChain(off: number, o: number, ciphertext: Buffer, tag: Buffer): Buffer | null {
    const opener = this.opener!;
    const before = Buffer.alloc(GCM_TAG_BYTES + 7);
    const from = Math.max(segmentHeaderBytes(2), off - before.length);
    const got = fs.readSync(this.fd, before, before.length - (off - from), off - from, from);
    if (got !== off - from) return null;
    if (this.resyncBase < 0) this.resyncBase = opener.frames; // frames opened before the damage (restart() moves the index)
    const first = this.resyncBase + 1; // the damaged frame itself was at least one
    const most = Math.max(1, Math.floor((off - this.openerNext) / MIN_FRAME_BYTES));
    let tries = 0;
    for (let pad = 0; pad < 8 && off - pad - GCM_TAG_BYTES >= from; pad++) {
      if (pad > 0 && before[before.length - pad] !== 0) break; // padding is zeros
      const prevTag = before.subarray(before.length - pad - GCM_TAG_BYTES, before.length - pad);
      for (let k = 0; k < most && tries < RESYNC_TRIES; k++, tries++) {
        opener.restart(first + k, prevTag);
        const plain = opener.open(this.buf, o, ciphertext, tag);
        if (plain) {
          this.resyncBase = -1;
          return plain;
        }
      }
    }
    return null;
  }

  /** Bytes of the file as last seen. */
  get bytes(): number {
    return this.size;
  }

  /** Offset of the next record to read. */
  get position(): number {
    return this.pos;
  }

  /** The segment's format version (0 when removed or unfinished). */
  get version(): number {
    return this.header?.version ?? 0;
  }

  /**
   * The current record's unit of durability: the record itself in version 1, the frame holding it in
   * version 2 (a frame is written, synced and cut whole). [unitStart, unitEnd) in the file.
   */
  get unitStart(): number {
    return this.frames ? this.frameStart : this.offset;
  }

  get unitEnd(): number {
    return this.frames ? this.frameNext : this.offset + align8(this.length);
  }

  /** Version 2: the crc field of the last frame read in order (the header's CRC before the first), which the next frame's prevCrc must equal; -1 if unknown. */
  get chainCrc(): number {
    return this.chain;
  }

  /** The current record's payload: a view valid until the scanner reads its next chunk. */
  payload(): Uint8Array {
    const o = this.offset - this.bufStart;
    return this.buf.subarray(o + HEADER_BYTES, o + this.length);
  }

  /** Read on from `offset` (a record boundary), e.g. to take back a record the caller did not use. */
  seek(offset: number): void {
    this.pos = offset;
    this.verdict = undefined;
    if (!this.frames) return;
    if (this.sealed && !(offset > this.frameStart && offset < this.frameBodyEnd)) this.dropBuffer(); // opened frames sit in the buffer as plaintext
    if (offset > this.frameStart && offset < this.frameBodyEnd) return; // a record of the current frame
    if (offset === this.frameStart) this.chain = this.frameChainIn; // the current frame, checked afresh
    else if (offset !== this.frameNext && offset !== this.frameBodyEnd) this.chain = offset === segmentHeaderBytes(2) ? (this.header?.crc ?? -1) : -1;
    this.frameStart = this.frameBodyEnd = this.frameNext = -1;
  }

  /** After a 'corrupt' verdict: go on at the next valid record (or the end when there is none). */
  resume(): void {
    const v = this.verdict;
    if (v?.kind !== 'corrupt') return;
    this.resumed = true;
    this.seek(v.resumeAt >= 0 ? v.resumeAt : v.offset + v.bytes);
    this.chain = -1; // past damage the chain is unknown: the next valid frame starts it again
  }

  close(): void {
    if (this.sealed) {
      // (the buffers holding opened frames are the entries' own memory: views handed to the caller)
      this.opener?.dispose();
      this.opener = undefined;
    }
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  next(): boolean {
    const prev = this.verdict;
    if (prev) {
      if (prev.kind === 'removed' || prev.kind === 'unfinished') return false;
      this.verdict = undefined;
      this.dropBuffer(); // look afresh: what was read may be a page a writer was still filling
    }
    if (this.fd < 0) return false;
    for (;;) {
      if (this.frames && this.pos < this.frameBodyEnd) return this.frameRecord();
      if (this.frames && this.pos === this.frameBodyEnd) this.pos = this.frameNext;
      const off = this.pos;
      if (this.ensure(off, 1) === 0) {
        this.verdict = { kind: 'clean', offset: off };
        return false;
      }
      if (this.frames) {
        let flen = this.frameAt(off, this.chain);
        if (flen > 0 && this.sealed) {
          const f = this.unseal(off, flen);
          if (f < 0) flen = f;
        }
        if (flen > 0) {
          this.enterFrame(off, flen);
          continue;
        }
        if (this.fault(off, flen)) return false;
        continue;
      }
      const len = this.checkAt(off, this.payloads);
      if (len > 0) {
        this.offset = off;
        this.length = len;
        this.seq = readSeq(this.dv, off - this.bufStart);
        this.type = this.buf[off - this.bufStart + H_SEQ_HI + 3];
        this.pos = off + align8(len);
        return true;
      }
      if (this.fault(off, len)) return false;
      // whole and valid on a second look: it was being written; read on
    }
  }

  /** A bad record or frame at `off` (negative code `code`): sets the verdict and returns true, or false if it is valid on a second look. */
  private fault(off: number, code: number): boolean {
    const fault = RECORD_FAULTS[code] ?? 'padding';
    if (this.live && (fault === 'short' || fault === 'padding')) {
      this.verdict = { kind: 'live-end', offset: off, reason: reason(fault, '', this.frames) };
      return true;
    }
    const v = this.judge(off, fault);
    if (v) this.verdict = v;
    return v !== undefined;
  }

  /** Version 2: a valid frame of `len` bytes at `off`; its records are read next. */
  private enterFrame(off: number, len: number): void {
    const o = off - this.bufStart;
    this.frameStart = off;
    this.frameBodyEnd = off + FRAME_HEADER_BYTES + this.buf.readUInt32LE(o + F_BODY);
    this.frameNext = off + align8(len);
    this.frameChainIn = this.chain;
    this.chain = this.buf.readUInt32LE(o + F_CRC);
    this.pos = off + FRAME_HEADER_BYTES;
  }

  /** Version 2: the next record of the current (checked) frame. */
  private frameRecord(): boolean {
    const off = this.pos;
    this.ensure(off, HEADER_BYTES);
    const len = this.dv.getInt32(off - this.bufStart + H_LEN, true);
    this.ensure(off, align8(len));
    const o = off - this.bufStart;
    this.offset = off;
    this.length = len;
    this.seq = readSeq(this.dv, o);
    this.type = this.buf[o + H_SEQ_HI + 3];
    this.pos = off + align8(len);
    return true;
  }

  /** A whole valid record (version 1) or frame (version 2) at `off`, judged afresh; its length or a negative fault. */
  private unitAt(off: number): number {
    return this.frames ? this.frameAt(off, this.chain) : this.checkAt(off, false);
  }

  /**
   * Version 2: a whole valid frame at `off` (brought into the buffer whole), its length, or a
   * negative fault (frame.ts). `prevCrc` -1 skips the chain check.
   */
  private frameAt(off: number, prevCrc: number): number {
    if (this.ensure(off, FRAME_HEADER_BYTES) < FRAME_HEADER_BYTES) return -1;
    const h = checkFrameHeader(this.dv, off - this.bufStart, Number.MAX_SAFE_INTEGER);
    if (h < 0) return h;
    if (off + h > this.size) this.size = fs.fstatSync(this.fd).size;
    if (off + h > this.size) return -1;
    const have = this.ensure(off, h);
    if (have < h) return -1;
    const len = checkFrame(this.buf, this.dv, off - this.bufStart, have, prevCrc);
    if (len < 0) return len;
    return have >= align8(len) || off + align8(len) <= this.size ? len : -5;
  }

  /**
   * The torn-or-corrupt rule for a bad record at `off`: returns the verdict, or undefined if a fresh
   * read finds a whole valid record there after all.
   */
  judge(off: number, fault: RecordFault): ScanVerdict | undefined {
    const fr = this.frames;
    if (fault === 'bad-tag' || (this.sealed && fault === 'bad-records')) {
      // CRC and chain good, tag bad: tampering, or a wrong key. At the tail of the last segment it is cut like a torn frame; before valid frames it is corruption
      const after = this.findNextValid(off + 8);
      // after damage in this segment a frame may fail only because the chain could not be taken up
      // again: a whole frame (its CRC holds) is then never cut as a torn tail
      if (after >= 0 || !this.last || this.resumed) {
        return { kind: 'corrupt', offset: off, bytes: (after >= 0 ? after : this.size) - off, resumeAt: after, reason: reason(fault, ` (at offset ${off})`, true) };
      }
      if (this.live) return { kind: 'live-end', offset: off, reason: reason(fault, '', fr) };
      return { kind: 'torn', offset: off, bytes: this.size - off, hole: false, reason: reason(fault, '', true) };
    }
    if (fault === 'bad-chain') {
      // a whole frame, checksum good, out of place: never a torn write, always damage; read on from it
      return { kind: 'corrupt', offset: off, bytes: 0, resumeAt: off, reason: reason(fault, '', true) };
    }
    const next = this.findNextValid(off + 8);
    const size = this.size;
    const hole = next >= 0 && this.allZero(off, next);
    if (next >= 0 && !hole) {
      this.dropBuffer();
      if (this.unitAt(off) > 0) return undefined;
      return { kind: 'corrupt', offset: off, bytes: next - off, resumeAt: next, reason: reason(fault, `; valid ${fr ? 'frames' : 'records'} resume at offset ${next}`, fr) };
    }
    if (!this.last) {
      // a segment before the last was synced whole: zeros there are damage too, and frames after them are read on
      if (next >= 0) return { kind: 'corrupt', offset: off, bytes: next - off, resumeAt: next, reason: reason(fault, `; zeros up to offset ${next}, where valid ${fr ? 'frames' : 'records'} resume`, fr) };
      return { kind: 'corrupt', offset: off, bytes: size - off, resumeAt: -1, reason: reason(fault, ` (${size - off} bytes to the end of a segment that is not the shard's last)`, fr) };
    }
    if (this.live) return { kind: 'live-end', offset: off, reason: reason(fault, '', fr) };
    const r = reason(fault, hole ? ` (an unflushed zero-filled hole; later ${fr ? 'frames' : 'records'} were never durable)` : '', fr);
    return { kind: 'torn', offset: off, bytes: size - off, hole, reason: r };
  }

  /** Is the bad record the scanner stopped on (verdict 'live-end') corruption after all? Judged afresh. */
  diagnose(): ScanVerdict | undefined {
    const v = this.verdict;
    if (!v || (v.kind !== 'live-end' && v.kind !== 'corrupt')) return v;
    const live = this.live;
    this.live = false;
    try {
      this.dropBuffer();
      const len = this.unitAt(v.offset);
      if (len > 0) return undefined;
      return this.judge(v.offset, RECORD_FAULTS[len] ?? 'padding');
    } finally {
      this.live = live;
    }
  }

  private setBuffer(b: Buffer, start: number): void {
    this.buf = b;
    this.bufStart = start;
    this.dv = new DataView(b.buffer, b.byteOffset, b.length);
  }

  private dropBuffer(): void {
    this.setBuffer(EMPTY, 0);
  }

  /**
   * Make the buffer hold [off, off + n) if the file has it (re-reading the file's size when it must);
   * returns how many bytes from `off` it holds. A new buffer each time: views handed out stay valid.
   */
  private ensure(off: number, n: number): number {
    const have = this.bufStart + this.buf.length - off;
    if (off >= this.bufStart && have >= n) return have;
    if (off + n > this.size) this.size = fs.fstatSync(this.fd).size;
    const end = Math.min(this.size, off + Math.max(n, this.chunk));
    if (end <= off) return 0;
    const nb = Buffer.allocUnsafe(end - off);
    let got = 0;
    if (off >= this.bufStart && have > 0) got = this.buf.copy(nb, 0, off - this.bufStart);
    while (got < nb.length) {
      const k = fs.readSync(this.fd, nb, got, nb.length - got, off + got);
      if (k === 0) break;
      got += k;
    }
    this.setBuffer(got === nb.length ? nb : nb.subarray(0, got), off);
    return got;
  }

  /**
   * A whole valid record (with its padding) at `off`: its length, or a negative fault (-5: padding).
   * With `load`, a record larger than a chunk is brought into the buffer whole (for its payload).
   */
  private checkAt(off: number, load: boolean): number {
    if (this.ensure(off, HEADER_BYTES) < HEADER_BYTES) return -1;
    const len = this.dv.getInt32(off - this.bufStart + H_LEN, true);
    if (len < HEADER_BYTES || len > MAX_RECORD) return -2;
    if (off + len > this.size) this.size = fs.fstatSync(this.fd).size;
    if (off + len > this.size) return -1;
    const alen = align8(len);
    if (alen > MAX_CHUNK) {
      // larger than a chunk: check it streaming before (and unless) it is loaded
      const type = this.dv.getUint32(off - this.bufStart + H_SEQ_HI, true) >>> TYPE_SHIFT;
      if (type !== TYPE_BYTES && type !== TYPE_UTF8) return -3;
      if (!this.crcStreams(off, len)) return -4;
      if (!load) return off + alen <= this.size ? len : -5;
    }
    const have = this.ensure(off, alen);
    const o = off - this.bufStart;
    const l = checkRecord(this.buf, this.dv, o, o + Math.min(have, len));
    if (l < 0) return l;
    return have >= alen ? len : -5;
  }

  /** Does the record at `off` (length `len`, within the file) carry its CRC? Read in chunks. */
  private crcStreams(off: number, len: number): boolean {
    const scratch = (this.scratch ??= Buffer.allocUnsafe(MAX_CHUNK));
    let crc = 0;
    let stored = -1;
    for (let at = off; at < off + len; ) {
      const want = Math.min(scratch.length, off + len - at);
      const n = fs.readSync(this.fd, scratch, 0, want, at);
      if (n === 0) return false;
      let from = 0;
      if (at === off) {
        stored = scratch.readUInt32LE(H_CRC);
        crc = crc32cUpdate(0, scratch, 0, 4);
        from = 8;
      }
      crc = crc32cUpdate(crc, scratch, from, n);
      at += n;
    }
    return maskCrc(crc) === stored;
  }

  /** The offset of the next whole valid record at or after `from` (8-byte steps), -1 if none. */
  private findNextValid(from: number): number {
    this.size = fs.fstatSync(this.fd).size;
    if (this.frames) return this.findNextFrame(from);
    for (let off = align8(from); off + HEADER_BYTES <= this.size; off += 8) {
      if (this.ensure(off, HEADER_BYTES) < HEADER_BYTES) break;
      const o = off - this.bufStart;
      const len = this.dv.getInt32(o + H_LEN, true);
      if (len < HEADER_BYTES || len > MAX_RECORD || off + len > this.size) continue; // cheap rejects first
      const type = this.buf[o + H_SEQ_HI + 3];
      if (type !== TYPE_BYTES && type !== TYPE_UTF8) continue;
      const l = this.checkAt(off, false);
      if (l > 0 || l === -5) return off; // (a valid record whose padding is cut off counts, as before)
    }
    return -1;
  }

  /** Version 2: the offset of the next whole valid frame at or after `from` (8-byte steps, chain not checked), -1 if none. */
  private findNextFrame(from: number): number {
    for (let off = align8(from); off + FRAME_HEADER_BYTES <= this.size; off += 8) {
      if (this.ensure(off, FRAME_HEADER_BYTES) < FRAME_HEADER_BYTES) break;
      const o = off - this.bufStart;
      const len = this.dv.getUint32(o, true);
      if (len < FRAME_HEADER_BYTES + HEADER_BYTES || len > MAX_FRAME || off + len > this.size) continue; // cheap rejects first
      if (checkFrameHeader(this.dv, o, Number.MAX_SAFE_INTEGER) < 0) continue;
      const l = this.frameAt(off, -1);
      if (l > 0 || l === -5) return off;
    }
    return -1;
  }

  /** Are the bytes [from, to) of the file all zero? Read in chunks. */
  private allZero(from: number, to: number): boolean {
    for (let at = from; at < to; ) {
      const n = this.ensure(at, 1);
      if (n === 0) return true;
      const o = at - this.bufStart;
      const stop = Math.min(o + n, o + (to - at));
      for (let i = o; i < stop; i++) if (this.buf[i] !== 0) return false;
      at += stop - o;
    }
    return true;
  }
}

