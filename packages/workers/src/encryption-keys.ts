/**
 * The encryption option's keys: validation of `{ keys: { [keyId]: Uint8Array(32) }, keyId }` into a
 * KeyRing (private copies of the keys, so the caller may zero theirs), key ids as the segment header
 * stores them (16 bytes, ASCII, zero padded), and zeroing a ring when the log is done with it.
 * No message built here ever contains key bytes.
 */
import { InvalidArgumentError, KeyError } from './errors.js';

/** A master key is 32 bytes (AES-256). */
export const MASTER_KEY_BYTES = 32;
/** A key id: 1 to 16 characters of [A-Za-z0-9._-] (it is stored in 16 header bytes). */
export const KEY_ID_BYTES = 16;
const KEY_ID_RE = /^[A-Za-z0-9._-]{1,16}$/;

/** What openLog, readLog, follow, verify and rekeyLog take as `encryption`. */
export interface EncryptionOptions {
  /** Every key that may be needed to read, by key id. */
  keys: Record<string, Uint8Array>;
  /** The key new segments are sealed under (must be in `keys`). Optional for readers. */
  keyId?: string;
}

/** Validated keys: private copies, zeroed by zeroKeyRing. */
export interface KeyRing {
  /** The key new segments are sealed under; undefined for a read-only ring. */
  keyId: string | undefined;
  keys: Map<string, Uint8Array>;
}

export function isValidKeyId(id: unknown): id is string {
  return typeof id === 'string' && KEY_ID_RE.test(id);
}

/**
 * Check an `encryption` option and copy its keys. `needKeyId`: writers must name the key to seal
 * under; readers only need keys. Throws InvalidArgumentError naming the option and the key id.
 */
export function resolveEncryption(v: unknown, needKeyId: boolean, name = 'encryption'): KeyRing {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError(`option ${name} must be an object { keys: { [keyId]: Uint8Array(32) }, keyId }`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'keys' && k !== 'keyId') throw new InvalidArgumentError(`option ${name} has an unknown field ${k}`);
  const keys = o.keys;
  if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) throw new InvalidArgumentError(`option ${name}.keys must be an object of key id → Uint8Array(32)`);
  const ids = Object.keys(keys);
  if (ids.length === 0) throw new InvalidArgumentError(`option ${name}.keys holds no key`);
  for (const id of ids) {
    if (!isValidKeyId(id)) throw new InvalidArgumentError(`option ${name}.keys: key id ${JSON.stringify(id)} must be 1 to 16 characters of A-Z a-z 0-9 . _ -`);
    const key = (keys as Record<string, unknown>)[id];
    if (!(key instanceof Uint8Array)) throw new InvalidArgumentError(`option ${name}.keys.${id} must be a Uint8Array of ${MASTER_KEY_BYTES} bytes`);
    if (key.length !== MASTER_KEY_BYTES) throw new InvalidArgumentError(`option ${name}.keys.${id} must be ${MASTER_KEY_BYTES} bytes, got ${key.length}`);
  }
  const keyId = o.keyId;
  if (keyId === undefined) {
    if (needKeyId) throw new InvalidArgumentError(`option ${name}.keyId is required: the id of the key new segments are sealed under`);
  } else {
    if (!isValidKeyId(keyId)) throw new InvalidArgumentError(`option ${name}.keyId must be 1 to 16 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(keyId)}`);
    if (!ids.includes(keyId)) throw new InvalidArgumentError(`option ${name}.keyId ${JSON.stringify(keyId)} is not in ${name}.keys`);
  }
  const ring: KeyRing = { keyId: keyId as string | undefined, keys: new Map() };
  for (const id of ids) ring.keys.set(id, Uint8Array.from((keys as Record<string, Uint8Array>)[id]!));
  return ring;
}

/** The master key a segment asks for, or a KeyError naming its id (never the bytes). */
export function keyFor(ring: KeyRing | undefined, keyId: string, file?: string): Uint8Array {
  const key = ring?.keys.get(keyId);
  if (!key) throw new KeyError(keyId, ring ? 'not among the keys given' : 'the segment is encrypted and no keys were given', file);
  return key;
}

/** Overwrite every key of the ring with zeros and forget them. */
export function zeroKeyRing(ring: KeyRing | undefined): void {
  if (!ring) return;
  for (const k of ring.keys.values()) k.fill(0);
  ring.keys.clear();
}

/** Write a key id into 16 header bytes at `at` (ASCII, zero padded). */
export function encodeKeyId(id: string, out: Uint8Array, at: number): void {
  out.fill(0, at, at + KEY_ID_BYTES);
  for (let i = 0; i < id.length; i++) out[at + i] = id.charCodeAt(i);
}

/** Read a key id from 16 header bytes at `at`; undefined when they do not hold a valid one. */
export function decodeKeyId(bytes: Uint8Array, at: number): string | undefined {
  let end = at;
  while (end < at + KEY_ID_BYTES && bytes[end] !== 0) end++;
  for (let i = end; i < at + KEY_ID_BYTES; i++) if (bytes[i] !== 0) return undefined;
  const id = String.fromCharCode(...bytes.subarray(at, end));
  return isValidKeyId(id) ? id : undefined;
}
