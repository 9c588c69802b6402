/**
 * Key files: the JSON the CLI's --key-file (or the SHARDLOG_KEY_FILE environment variable) names,
 * `{ "keys": { "<keyId>": "<32 bytes as base64 or hex>" }, "keyId": "<keyId>" }`, read into the
 * `encryption` option. Messages name the file and key ids, never key material.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, isValidKeyId, resolveEncryption, MASTER_KEY_BYTES, type EncryptionOptions } from '@shardlog/workers';

/** The environment variable naming a key file when --key-file is not given. */
export const KEY_FILE_ENV = 'SHARDLOG_KEY_FILE';

const HEX_RE = /^[0-9a-fA-F]{64}$/;
const B64_RE = /^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}$/;

function decodeKey(file: string, id: string, v: unknown): Uint8Array {
  if (typeof v === 'string') {
    const s = v.trim();
    if (HEX_RE.test(s)) return Uint8Array.from(Buffer.from(s, 'hex'));
    if (B64_RE.test(s)) {
      const b = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
      if (b.length === MASTER_KEY_BYTES) {
        const out = Uint8Array.from(b);
        b.fill(0);
        return out;
      }
    }
  }
  throw new InvalidArgumentError(`key file ${file}: key ${JSON.stringify(id)} must be ${MASTER_KEY_BYTES} bytes as 64 hex digits or base64`);
}

/** Parse a key file's text. `needKeyId`: writers (openLog, rekey) need "keyId"; readers do not. */
export function parseKeyFile(text: string, file: string, needKeyId: boolean): EncryptionOptions {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(`key file ${file} is not valid JSON`);
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new InvalidArgumentError(`key file ${file} must hold { "keys": { "<id>": "<base64 or hex>" }, "keyId": "<id>" }`);
  const { keys, keyId } = o as { keys?: unknown; keyId?: unknown };
  if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) throw new InvalidArgumentError(`key file ${file}: "keys" must be an object of key id → base64 or hex`);
  const out: Record<string, Uint8Array> = {};
  for (const [id, v] of Object.entries(keys)) {
    if (!isValidKeyId(id)) throw new InvalidArgumentError(`key file ${file}: key id ${JSON.stringify(id)} must be 1 to 16 characters of A-Z a-z 0-9 . _ -`);
    out[id] = decodeKey(file, id, v);
  }
  if (keyId !== undefined && typeof keyId !== 'string') throw new InvalidArgumentError(`key file ${file}: "keyId" must be a string`);
  const enc: EncryptionOptions = keyId === undefined ? { keys: out } : { keys: out, keyId };
  resolveEncryption(enc, needKeyId, `key file ${file}`); // same checks as the option (the copy is dropped)
  return enc;
}

/** Read a key file. A missing or unreadable file is an InvalidArgumentError naming it. */
export function readKeyFile(file: string, needKeyId = false): EncryptionOptions {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`cannot read key file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  return parseKeyFile(text, file, needKeyId);
}

/** The keys from `explicit` (a --key-file argument) or else SHARDLOG_KEY_FILE; undefined when neither. */
export function keysFromFileOrEnv(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, needKeyId = false): EncryptionOptions | undefined {
  const file = explicit ?? (env[KEY_FILE_ENV] || undefined);
  return file === undefined ? undefined : readKeyFile(file, needKeyId);
}
