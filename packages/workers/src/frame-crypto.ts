/**
 * AES-256-GCM on batch frames (docs/FORMAT.md, "Encryption"): the per-segment key (HKDF-SHA256 from
 * the master key, the segment header's random salt, the log id, the shard and the first seq), the
 * header's keyCheck, and the per-segment sealing / opening state: nonces from the frame's index in
 * the segment, AAD = the frame header without its crc || the previous frame's tag (the first frame:
 * the segment header). A frame is sealed once, in the writer thread, never per record.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomFillSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { KeyError } from './errors.js';
import { keyFor, type KeyRing } from './encryption-keys.js';

export const SALT_BYTES = 16;
export const KEY_CHECK_BYTES = 8;
export const GCM_TAG_BYTES = 16;
export const GCM_NONCE_BYTES = 12;
/** Bytes of a segment header v2 (the first frame's AAD tail). */
export const SEGMENT_HEADER_V2_BYTES = 80;
const FRAME_HEADER = 32;
/** AAD: frame header [0,4) and [8,32) = 28 bytes, then 16 (previous tag) or 80 (segment header). */
const AAD_HEAD = 28;
const INFO_PREFIX = Buffer.from('shardlog v2', 'ascii');
const KEY_CHECK_LABEL = 'shardlog key check';

/** Where a segment's key comes from: its header's fields and the log it belongs to. */
export interface SegmentKeyInput {
  logId: string;
  shard: number;
  firstSeq: number;
  salt: Uint8Array;
}

/** HKDF info: "shardlog v2" || log id (UTF-8) || shard (u16 LE) || firstSeq (u64 LE). */
function hkdfInfo(i: SegmentKeyInput): Buffer {
  const id = Buffer.from(i.logId, 'utf8');
  const info = Buffer.alloc(INFO_PREFIX.length + id.length + 10);
  INFO_PREFIX.copy(info, 0);
  id.copy(info, INFO_PREFIX.length);
  let at = INFO_PREFIX.length + id.length;
  info.writeUInt16LE(i.shard, at);
  at += 2;
  info.writeUInt32LE(i.firstSeq >>> 0, at);
  info.writeUInt32LE(Math.floor(i.firstSeq / 2 ** 32), at + 4);
  return info;
}

/** The segment key as a KeyObject; the raw derived bytes are zeroed before returning. */
export function deriveSegmentKey(master: Uint8Array, i: SegmentKeyInput): KeyObject {
  const raw = new Uint8Array(hkdfSync('sha256', master, i.salt, hkdfInfo(i), 32));
  try {
    return createSecretKey(raw);
  } finally {
    raw.fill(0);
  }
}

/** The header's keyCheck: the first 8 bytes of HMAC-SHA256(segment key, "shardlog key check"). */
export function keyCheck(segmentKey: KeyObject): Buffer {
  return createHmac('sha256', segmentKey).update(KEY_CHECK_LABEL).digest().subarray(0, KEY_CHECK_BYTES);
}

/** A fresh random salt for a new encrypted segment. */
export function newSalt(): Uint8Array {
  return randomFillSync(new Uint8Array(SALT_BYTES));
}

/**
 * The key of an existing encrypted segment, checked against its header's keyCheck. A key id not in
 * the ring, or a key that does not match, is a KeyError naming the id: never a torn frame.
 */
export function openSegmentKey(ring: KeyRing | undefined, keyId: string, i: SegmentKeyInput, check: Uint8Array, file?: string): KeyObject {
  const key = deriveSegmentKey(keyFor(ring, keyId, file), i);
  const want = keyCheck(key);
  if (check.length !== KEY_CHECK_BYTES || !timingSafeEqual(want, check)) {
    throw new KeyError(keyId, 'wrong key: the segment was sealed under a different key with this id', file);
  }
  return key;
}

/**
 * The chained state of one segment's frames, shared by sealing and opening: the frame index (the
 * nonce) and the AAD buffer whose tail holds the previous tag (or the segment header).
 */
class FrameChain {
  protected key: KeyObject | undefined;
  protected index = 0;
  protected readonly nonce = Buffer.alloc(GCM_NONCE_BYTES);
  protected readonly aad = Buffer.alloc(AAD_HEAD + SEGMENT_HEADER_V2_BYTES);
  protected aadLength = AAD_HEAD + SEGMENT_HEADER_V2_BYTES;
  /** The AAD tail before the last advance (one step back: a reader reading the same frame again). */
  private readonly prevTail = Buffer.alloc(SEGMENT_HEADER_V2_BYTES);
  private prevLength = 0;

  constructor(key: KeyObject, segmentHeader: Uint8Array) {
    if (segmentHeader.length < SEGMENT_HEADER_V2_BYTES) throw new RangeError('segment header v2 is 80 bytes');
    this.key = key;
    this.aad.set(segmentHeader.subarray(0, SEGMENT_HEADER_V2_BYTES), AAD_HEAD);
  }

  /** Undo the last advance (the frame will be opened again); false if there is none to undo. */
  back(): boolean {
    if (this.prevLength === 0) return false;
    this.aad.set(this.prevTail.subarray(0, this.prevLength - AAD_HEAD), AAD_HEAD);
    this.aadLength = this.prevLength;
    this.prevLength = 0;
    this.index--;
    return true;
  }

  /**
   * Continue the chain at frame `index` of the segment, after `prevTag` (the tag stored at the end of
   * the frame before it): a reader that skipped damaged frames takes the chain up again there.
   */
  restart(index: number, prevTag: Uint8Array): void {
    if (prevTag.length !== GCM_TAG_BYTES) throw new RangeError(`a tag is ${GCM_TAG_BYTES} bytes`);
    this.index = index;
    this.aad.set(prevTag, AAD_HEAD);
    this.aadLength = AAD_HEAD + GCM_TAG_BYTES;
    this.prevLength = 0;
  }

  /** Frames sealed or opened so far (the next frame's index). */
  get frames(): number {
    return this.index;
  }

  /** Prepare nonce and AAD for the frame whose header is at `h[at..at+32)`; returns the live key. */
  protected next(h: Uint8Array, at: number): KeyObject {
    if (!this.key) throw new Error('segment crypto used after dispose()');
    this.nonce.writeUInt32LE(this.index >>> 0, 4);
    this.nonce.writeUInt32LE(Math.floor(this.index / 2 ** 32), 8);
    this.aad.set(h.subarray(at, at + 4), 0);
    this.aad.set(h.subarray(at + 8, at + FRAME_HEADER), 4);
    return this.key;
  }

  /** After a frame: its tag becomes the next frame's AAD tail. */
  protected advance(tag: Uint8Array): void {
    this.prevTail.set(this.aad.subarray(AAD_HEAD, this.aadLength));
    this.prevLength = this.aadLength;
    this.aad.set(tag, AAD_HEAD);
    this.aadLength = AAD_HEAD + GCM_TAG_BYTES;
    this.index++;
  }

  /** Forget the key (segment closed) and zero the chained state. */
  dispose(): void {
    this.key = undefined;
    this.aad.fill(0);
    this.prevTail.fill(0);
    this.nonce.fill(0);
  }
}

/** Seals the frames of one segment being written, in order. */
export class FrameSealer extends FrameChain {
  /**
   * Seal the body of the frame whose header (all fields but crc, flags with the encrypted bit) sits
   * at `h[at..at+32)`. `body` are the plaintext parts in order (views over the ring); returns the
   * ciphertext parts (same lengths) and writes the 16-byte tag into `tagOut` at `tagAt`.
   */
  seal(h: Uint8Array, at: number, body: readonly Uint8Array[], tagOut: Uint8Array, tagAt = 0): Buffer[] {
    const cipher = createCipheriv('aes-256-gcm', this.next(h, at), this.nonce, { authTagLength: GCM_TAG_BYTES });
    cipher.setAAD(this.aad.subarray(0, this.aadLength));
    const out: Buffer[] = new Array(body.length);
    for (let i = 0; i < body.length; i++) out[i] = cipher.update(body[i]!);
    cipher.final();
    const tag = cipher.getAuthTag();
    tagOut.set(tag, tagAt);
    this.advance(tag);
    return out;
  }
}

/** Opens the frames of one segment being read, in order from its first frame. */
export class FrameOpener extends FrameChain {
  /**
   * Open the frame whose header sits at `h[at..at+32)`: `ciphertext` is its body, `tag` its tag.
   * Returns the plaintext, or null when the tag does not verify (wrong key, tampering, a frame out
   * of place); the chain does not advance then.
   */
  open(h: Uint8Array, at: number, ciphertext: Uint8Array, tag: Uint8Array): Buffer | null {
    const decipher = createDecipheriv('aes-256-gcm', this.next(h, at), this.nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAAD(this.aad.subarray(0, this.aadLength));
    decipher.setAuthTag(tag);
    const plain = decipher.update(ciphertext);
    try {
      decipher.final();
    } catch {
      plain.fill(0);
      return null;
    }
    this.advance(tag);
    return plain;
  }
}
