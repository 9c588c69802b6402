/** Encryption building blocks: key validation, key files, HKDF segment keys, keyCheck, and sealing / opening chained frames. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  decodeKeyId,
  deriveSegmentKey,
  deserializeError,
  encodeKeyId,
  FrameOpener,
  FrameSealer,
  InvalidArgumentError,
  KeyError,
  keyCheck,
  newSalt,
  openSegmentKey,
  resolveEncryption,
  serializeError,
  zeroKeyRing,
} from '@shardlog/workers';
import { keysFromFileOrEnv, parseKeyFile, KEY_FILE_ENV } from '@shardlog/core';

const master = () => Uint8Array.from(randomBytes(32));
const LOG_ID = '2f0b5d52-4a8e-4f4e-9d3e-6c1a2b3c4d5e';

function segHeader(seed: number): Uint8Array {
  const h = new Uint8Array(80);
  h.set(Buffer.from('SHARDLOG'));
  h[16] = seed;
  return h;
}

function frameHeader(firstSeq: number, count: number, bodyLength: number): Uint8Array {
  const h = new Uint8Array(32);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, 32 + bodyLength + 16, true);
  dv.setUint32(4, 0xdeadbeef, true); // crc: not part of the AAD
  dv.setUint16(12, 1, true);
  dv.setUint32(16, firstSeq, true);
  dv.setUint32(24, count, true);
  dv.setUint32(28, bodyLength, true);
  return h;
}

interface Sealed {
  h: Uint8Array;
  ct: Buffer;
  tag: Uint8Array;
}

function sealSegment(key: ReturnType<typeof deriveSegmentKey>, seg: Uint8Array, bodies: Uint8Array[]): Sealed[] {
  const s = new FrameSealer(key, seg);
  const out: Sealed[] = [];
  let seq = 1;
  for (const b of bodies) {
    const h = frameHeader(seq, 1, b.length);
    seq++;
    const tag = new Uint8Array(16);
    const ct = Buffer.concat(s.seal(h, 0, [b.subarray(0, 5), b.subarray(5)], tag));
    out.push({ h, ct, tag });
  }
  s.dispose();
  return out;
}

function openAll(key: ReturnType<typeof deriveSegmentKey>, seg: Uint8Array, frames: Sealed[]): (Buffer | null)[] {
  const o = new FrameOpener(key, seg);
  const res: (Buffer | null)[] = [];
  for (const f of frames) {
    const p = o.open(f.h, 0, f.ct, f.tag);
    res.push(p);
    if (!p) break;
  }
  return res;
}

const bodies = [Buffer.from('first frame body, 32 bytes long!'), Buffer.from('second frame body ............. '), Buffer.from('third frame body .............. ')];

describe('encryption option', () => {
  it('accepts 32-byte keys under valid ids and copies them', () => {
    const k = master();
    const ring = resolveEncryption({ keys: { 'k1.2025_a-b': k }, keyId: 'k1.2025_a-b' }, true);
    expect(ring.keyId).toBe('k1.2025_a-b');
    expect(ring.keys.get('k1.2025_a-b')).toEqual(k);
    expect(ring.keys.get('k1.2025_a-b')).not.toBe(k);
    const copy = ring.keys.get('k1.2025_a-b')!;
    zeroKeyRing(ring);
    expect(copy.every((b) => b === 0)).toBe(true);
    expect(k.some((b) => b !== 0)).toBe(true);
  });

  it('refuses bad keys, ids and keyId with InvalidArgumentError and never shows key bytes', () => {
    const short = Uint8Array.from(randomBytes(31));
    const cases: unknown[] = [
      undefined,
      { keys: {} , keyId: 'a' },
      { keys: { a: short }, keyId: 'a' },
      { keys: { a: 'x'.repeat(32) }, keyId: 'a' },
      { keys: { 'bad id': master() }, keyId: 'bad id' },
      { keys: { ['x'.repeat(17)]: master() }, keyId: 'x'.repeat(17) },
      { keys: { a: master() }, keyId: 'b' },
      { keys: { a: master() } },
      { keys: { a: master() }, keyId: 'a', extra: 1 },
    ];
    for (const c of cases) {
      let err: unknown;
      try {
        resolveEncryption(c, true);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).code).toBe('ERR_SHARDLOG_INVALID_ARGUMENT');
      expect((err as Error).message).not.toContain(Buffer.from(short).toString('hex').slice(0, 8));
    }
    expect(resolveEncryption({ keys: { a: master() } }, false).keyId).toBeUndefined();
  });

  it('key ids round-trip through 16 header bytes', () => {
    const b = new Uint8Array(20);
    encodeKeyId('k-2025.01', b, 2);
    expect(decodeKeyId(b, 2)).toBe('k-2025.01');
    encodeKeyId('0123456789abcdef', b, 2);
    expect(decodeKeyId(b, 2)).toBe('0123456789abcdef');
    expect(decodeKeyId(new Uint8Array(16), 0)).toBeUndefined();
    const bad = new Uint8Array(16);
    bad[0] = 0x41;
    bad[2] = 0x42; // a byte after the zero padding
    expect(decodeKeyId(bad, 0)).toBeUndefined();
  });

  it('KeyError keeps its class, code and key id across a thread boundary', () => {
    const e = new KeyError('k2', 'not among the keys given', 'shard-0/x.seg');
    expect(e.code).toBe('ERR_SHARDLOG_KEY');
    const back = deserializeError(serializeError(e));
    expect(back).toBeInstanceOf(KeyError);
    expect((back as KeyError).keyId).toBe('k2');
    expect(back.message).toBe(e.message);
  });
});

describe('key files', () => {
  it('reads hex and base64 keys, and SHARDLOG_KEY_FILE', () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const enc = parseKeyFile(JSON.stringify({ keys: { a: k1.toString('hex'), b: k2.toString('base64') }, keyId: 'b' }), 'keys.json', true);
    expect(Buffer.from(enc.keys.a!)).toEqual(k1);
    expect(Buffer.from(enc.keys.b!)).toEqual(k2);
    expect(enc.keyId).toBe('b');
    const dir = mkdtempSync(join(tmpdir(), 'shardlog-keys-'));
    try {
      const f = join(dir, 'k.json');
      writeFileSync(f, JSON.stringify({ keys: { a: k1.toString('base64url') } }));
      expect(keysFromFileOrEnv(undefined, {})).toBeUndefined();
      expect(Buffer.from(keysFromFileOrEnv(undefined, { [KEY_FILE_ENV]: f })!.keys.a!)).toEqual(k1);
      expect(() => keysFromFileOrEnv(join(dir, 'missing.json'), {})).toThrow(InvalidArgumentError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad key files without echoing key material', () => {
    const secret = randomBytes(31).toString('hex');
    for (const text of ['not json', '[]', JSON.stringify({ keys: { a: secret }, keyId: 'a' }), JSON.stringify({ keys: { a: randomBytes(32).toString('hex') } })]) {
      let err: unknown;
      try {
        parseKeyFile(text, 'k.json', true);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toContain('k.json');
      expect((err as Error).message).not.toContain(secret.slice(0, 16));
    }
  });
});

describe('segment keys', () => {
  it('HKDF binds the key to salt, log id, shard and first seq', () => {
    const m = master();
    const salt = newSalt();
    const base = { logId: LOG_ID, shard: 1, firstSeq: 2 ** 33 + 5, salt };
    const check = keyCheck(deriveSegmentKey(m, base));
    expect(check.length).toBe(8);
    expect(keyCheck(deriveSegmentKey(m, base))).toEqual(check);
    for (const other of [{ ...base, salt: newSalt() }, { ...base, logId: LOG_ID.replace('2f', '3f') }, { ...base, shard: 2 }, { ...base, firstSeq: 5 }]) {
      expect(keyCheck(deriveSegmentKey(m, other))).not.toEqual(check);
    }
  });

  it('a wrong key or a missing key id is a KeyError at the header', () => {
    const m = master();
    const input = { logId: LOG_ID, shard: 0, firstSeq: 1, salt: newSalt() };
    const check = keyCheck(deriveSegmentKey(m, input));
    const good = resolveEncryption({ keys: { k1: m } }, false);
    expect(() => openSegmentKey(good, 'k1', input, check)).not.toThrow();
    const wrong = resolveEncryption({ keys: { k1: master() } }, false);
    for (const [ring, id] of [[wrong, 'k1'], [good, 'k9'], [undefined, 'k1']] as const) {
      let err: unknown;
      try {
        openSegmentKey(ring, id, input, check, 'f.seg');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KeyError);
      expect((err as KeyError).code).toBe('ERR_SHARDLOG_KEY');
      expect((err as KeyError).keyId).toBe(id);
      expect((err as KeyError).file).toBe('f.seg');
    }
  });
});

describe('sealed frames', () => {
  const m = master();
  const input = { logId: LOG_ID, shard: 0, firstSeq: 1, salt: newSalt() };
  const seg = segHeader(1);

  it('round-trip in order, and the ciphertext does not contain the plaintext', () => {
    const key = deriveSegmentKey(m, input);
    const frames = sealSegment(key, seg, bodies);
    frames.forEach((f, i) => {
      expect(f.ct.length).toBe(bodies[i]!.length);
      expect(f.ct.includes(Buffer.from('frame body'))).toBe(false);
    });
    expect(openAll(key, seg, frames)).toEqual(bodies);
  });

  it('the same plaintext gives different ciphertext in each frame (nonce = frame index)', () => {
    const key = deriveSegmentKey(m, input);
    const same = Buffer.alloc(32, 0x61);
    const frames = sealSegment(key, seg, [same, same]);
    expect(frames[0]!.ct.equals(frames[1]!.ct)).toBe(false);
  });

  it('a flipped bit in ciphertext, tag or header fails the tag; the crc word is not authenticated (the CRC covers it)', () => {
    const key = deriveSegmentKey(m, input);
    const flips: ((f: Sealed) => void)[] = [(f) => (f.ct[3]! ^= 1), (f) => (f.tag[15]! ^= 0x80), (f) => (f.h[16]! ^= 1), (f) => (f.h[0]! ^= 8), (f) => (f.h[9]! ^= 1)];
    for (const flip of flips) {
      const frames = sealSegment(key, seg, bodies);
      flip(frames[1]!);
      const res = openAll(key, seg, frames);
      expect(res[0]).toEqual(bodies[0]);
      expect(res[1]).toBeNull();
    }
    const frames = sealSegment(key, seg, bodies);
    frames[1]!.h[5]! ^= 1;
    expect(openAll(key, seg, frames)).toEqual(bodies);
  });

  it('a swapped, removed or foreign frame fails the tag', () => {
    const key = deriveSegmentKey(m, input);
    const frames = sealSegment(key, seg, bodies);
    expect(openAll(key, seg, [frames[0]!, frames[2]!, frames[1]!])[1]).toBeNull();
    expect(openAll(key, seg, [frames[0]!, frames[2]!])[1]).toBeNull();
    expect(openAll(key, seg, [frames[1]!])[0]).toBeNull();
    // The same frames under another segment header (same key): the first frame's AAD differs.
    expect(openAll(key, segHeader(2), frames)[0]).toBeNull();
    // A frame from another segment of the same log, at the same index.
    const otherKey = deriveSegmentKey(m, { ...input, firstSeq: 100, salt: newSalt() });
    const other = sealSegment(otherKey, seg, bodies);
    expect(openAll(key, seg, [frames[0]!, other[1]!])[1]).toBeNull();
  });

  it('a disposed sealer refuses to seal', () => {
    const s = new FrameSealer(deriveSegmentKey(m, input), seg);
    s.dispose();
    expect(() => s.seal(frameHeader(1, 1, 8), 0, [new Uint8Array(8)], new Uint8Array(16))).toThrow();
  });
});
