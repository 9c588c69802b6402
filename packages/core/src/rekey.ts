/**
 * rekeyLog: rewrite a closed log's encrypted segments under a new key (with encryptPlain, its plain
 * segments too, which encrypts a log that had none), one segment at a time and crash-safely: the new file is written beside the old one, fdatasynced, read back and checked with
 * the new key, renamed over the old name, and the directory fsynced. At every instant the name
 * holds either the old segment (readable with the old key) or the whole new one (with the new key).
 * The log's lock is held throughout, so no writer appends meanwhile.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  align8,
  crc32cRange,
  deriveSegmentKey,
  encodeSegmentHeader,
  F_CRC,
  finishFrameCrc,
  FRAME_FLAG_ENCRYPTED,
  FRAME_HEADER_BYTES,
  FrameSealer,
  frameHeaderCrc,
  fsyncDir,
  GCM_TAG_BYTES,
  H_LEN,
  H_SEQ_HI,
  H_SEQ_LO,
  HEADER_BYTES,
  InvalidArgumentError,
  keyCheck,
  keyFor,
  listSegments,
  listShardDirs,
  LogFormatError,
  newSalt,
  readManifest,
  resolveEncryption,
  SEGMENT_FLAG_ENCRYPTED,
  SEGMENT_HEADER_CRC_V2,
  SegmentScanner,
  shardDirName,
  SEQ_HI_MASK,
  TYPE_SHIFT,
  writeFrameHeader,
  zeroKeyRing,
  CorruptLogError,
  type EncryptionOptions,
  type KeyRing,
  type SegmentRef,
} from '@shardlog/workers';
import { acquireLock } from './lock.js';

export interface RekeyOptions extends EncryptionOptions {
  dir: string;
  /**
   * Also encrypt the segments that are not encrypted (written before the log had `encryption`), under
   * keys[keyId], the same crash-safe way. Default false: they are left as they are, and counted in `plain`.
   */
  encryptPlain?: boolean;
  /** @internal Tests: throw after this many steps (each segment: write, sync, check, rename, dir sync). */
  testFailAfterSteps?: number;
}

export interface RekeyResult {
  /** Segments rewritten under the new key. */
  rewritten: string[];
  /** Segments already under the new key, or not encrypted and left alone (those are counted in `plain` too). */
  unchanged: number;
  /** Segments not encrypted, left as they are (without encryptPlain): they hold plaintext. */
  plain: number;
  /** Last segments with a torn tail, left for recovery (open the log, or `shardlog recover`, then rekey again). */
  skipped: string[];
}

const TMP_SUFFIX = '.rekey-tmp';
/** Records per rewritten frame, at most this many bytes of body. */
const FRAME_BODY_BYTES = 1 << 20;

/** Rewrite every segment sealed under another key than `keyId` under keys[keyId]. The log must be closed. */
export async function rekeyLog(options: RekeyOptions): Promise<RekeyResult> {
  if (!options || typeof options.dir !== 'string') throw new InvalidArgumentError('rekeyLog takes { dir, keys, keyId }');
  const { dir, testFailAfterSteps } = options;
  if (options.encryptPlain !== undefined && typeof options.encryptPlain !== 'boolean') throw new InvalidArgumentError(`encryptPlain must be a boolean, got ${JSON.stringify(options.encryptPlain) ?? String(options.encryptPlain)}`);
  const encryptPlain = options.encryptPlain === true;
  const ring = resolveEncryption({ keys: options.keys, keyId: options.keyId }, true, 'rekeyLog');
  const release = acquireLock(dir);
  try {
    const m = readManifest(dir);
    if (!m?.id) throw new InvalidArgumentError(`no log with an id at ${dir} (no shardlog.json, or one without "id")`);
    if (m.format !== 'framed') throw new InvalidArgumentError(`log ${dir} is in '${m.format}' format: only framed logs are encrypted`);
    const res: RekeyResult = { rewritten: [], unchanged: 0, plain: 0, skipped: [] };
    const steps = { n: 0, failAfter: testFailAfterSteps };
    for (const shard of listShardDirs(dir)) {
      removeLeftovers(path.join(dir, shardDirName(shard)));
      const segs = listSegments(dir, shard, 'framed');
      segs.forEach((seg, i) => rekeySegment(seg, i === segs.length - 1, ring, m.id!, res, steps, encryptPlain));
    }
    return res;
  } finally {
    zeroKeyRing(ring);
    release();
  }
}

/** A rekey that crashed leaves its new file under a temporary name: never used, removed. */
function removeLeftovers(shardDir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(shardDir);
  } catch {
    return;
  }
  const gone = names.filter((n) => n.endsWith(TMP_SUFFIX));
  for (const n of gone) fs.rmSync(path.join(shardDir, n), { force: true });
  if (gone.length > 0) fsyncDir(shardDir);
}

interface Steps {
  n: number;
  failAfter: number | undefined;
}

function step(s: Steps, what: string): void {
  s.n++;
  if (s.failAfter !== undefined && s.n >= s.failAfter) throw new Error(`rekey test fault after step ${s.n} (${what})`);
}

/** The records of one segment, opened with the ring's keys; undefined when its tail is torn. */
function readRecords(seg: SegmentRef, ring: KeyRing, logId: string, last: boolean): { records: Buffer[]; header: NonNullable<SegmentScanner['header']> } | undefined {
  const sc = new SegmentScanner(seg, { last, keys: ring, logId });
  try {
    const header = sc.header;
    if (!header) return undefined;
    const records: Buffer[] = [];
    while (sc.next()) {
      const len = sc.length;
      const r = Buffer.alloc(align8(len));
      r.writeInt32LE(len, H_LEN);
      r.writeUInt32LE(sc.seq >>> 0, H_SEQ_LO);
      r.writeUInt32LE(((Math.floor(sc.seq / 2 ** 32) & SEQ_HI_MASK) | (sc.type << TYPE_SHIFT)) >>> 0, H_SEQ_HI);
      r.set(sc.payload(), HEADER_BYTES);
      records.push(r);
    }
    const v = sc.verdict!;
    if (v.kind === 'corrupt') throw new CorruptLogError(seg.file, v.offset, v.reason.message);
    if (v.kind !== 'clean') return undefined;
    return { records, header };
  } finally {
    sc.close();
  }
}

function rekeySegment(seg: SegmentRef, last: boolean, ring: KeyRing, logId: string, res: RekeyResult, steps: Steps, encryptPlain: boolean): void {
  const probe = new SegmentScanner(seg, { last, payloads: false });
  const h = probe.header;
  probe.close();
  const encrypted = h !== undefined && h.version === 2 && ((h.flags ?? 0) & SEGMENT_FLAG_ENCRYPTED) !== 0;
  if (h && !encrypted && !encryptPlain) res.plain++;
  if (!h || (encrypted ? h.keyId === ring.keyId : !encryptPlain)) {
    res.unchanged++;
    return;
  }
  const read = readRecords(seg, ring, logId, last);
  if (!read) {
    res.skipped.push(seg.file);
    return;
  }
  const bytes = sealSegment(read.records, { shard: h.shard, firstSeq: h.firstSeq, prevMaxSeq: h.prevMaxSeq }, ring, logId);
  for (const r of read.records) r.fill(0);
  const tmp = seg.file + TMP_SUFFIX;
  const fd = fs.openSync(tmp, 'wx');
  try {
    fs.writeSync(fd, bytes);
    step(steps, 'written');
    fs.fdatasyncSync(fd);
    step(steps, 'synced');
  } finally {
    fs.closeSync(fd);
  }
  const check = readRecords({ ...seg, file: tmp }, ring, logId, false);
  if (!check || check.records.length !== read.records.length) throw new LogFormatError(tmp, 'the rewritten segment does not read back whole: left the original in place');
  step(steps, 'checked');
  fs.renameSync(tmp, seg.file);
  step(steps, 'renamed');
  fsyncDir(path.dirname(seg.file));
  step(steps, 'dir synced');
  res.rewritten.push(seg.file);
}

/** A whole encrypted segment (header and sealed frames) holding `records` (each 8-aligned, as in a ring). */
function sealSegment(records: Buffer[], at: { shard: number; firstSeq: number; prevMaxSeq: number }, ring: KeyRing, logId: string): Buffer {
  const keyId = ring.keyId!;
  const salt = newSalt();
  const key = deriveSegmentKey(keyFor(ring, keyId), { logId, shard: at.shard, firstSeq: at.firstSeq, salt });
  const header = encodeSegmentHeader({ version: 2, shard: at.shard, firstSeq: at.firstSeq, prevMaxSeq: at.prevMaxSeq, flags: SEGMENT_FLAG_ENCRYPTED, salt, keyId, keyCheck: keyCheck(key) });
  const sealer = new FrameSealer(key, header);
  const out: Uint8Array[] = [header];
  let chain = new DataView(header.buffer, header.byteOffset).getUint32(SEGMENT_HEADER_CRC_V2, true);
  try {
    for (let i = 0; i < records.length; ) {
      let j = i;
      let body = 0;
      while (j < records.length && (j === i || body + records[j]!.length <= FRAME_BODY_BYTES)) body += records[j++]!.length;
      const fh = new Uint8Array(FRAME_HEADER_BYTES);
      const dv = new DataView(fh.buffer);
      const firstSeq = records[i]!.readUInt32LE(H_SEQ_LO) + (records[i]!.readUInt32LE(H_SEQ_HI) & SEQ_HI_MASK) * 2 ** 32;
      writeFrameHeader(dv, 0, chain, firstSeq, j - i, body, FRAME_FLAG_ENCRYPTED);
      const tag = new Uint8Array(GCM_TAG_BYTES);
      const ct = sealer.seal(fh, 0, records.slice(i, j), tag);
      let crc = frameHeaderCrc(fh, 0);
      for (const c of ct) crc = crc32cRange(crc, c, 0, c.length);
      crc = finishFrameCrc(crc32cRange(crc, tag, 0, tag.length));
      dv.setUint32(F_CRC, crc, true);
      chain = crc;
      out.push(fh, ...ct, tag);
      i = j;
    }
  } finally {
    sealer.dispose();
  }
  return Buffer.concat(out);
}
