/** Encryption at rest end to end: nothing readable on disk, the right key reads everything back, a missing or wrong key and tampered frames are detected. */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CorruptLogError, InvalidArgumentError, KeyError, openLog, readLogSync, type EncryptionOptions } from '@shardlog/core';
import { crc32cRange, F_CRC, finishFrameCrc, FRAME_HEADER_BYTES, frameHeaderCrc } from '@shardlog/workers';
import { logDir, segmentFiles } from './helpers.js';

const MARKER = 'SECRET-MARKER-7f3a';
const key = (): Uint8Array => Uint8Array.from(randomBytes(32));

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  return out;
}

async function writeEncrypted(dir: string, enc: EncryptionOptions, count: number, from = 0, extra: object = {}): Promise<Map<number, string>> {
  const log = await openLog({ dir, shards: 1, segmentBytes: 4096, sync: 'none', encryption: enc, ...extra });
  const bySeq = new Map<number, string>();
  for (let i = from; i < from + count; i++) {
    const text = `${MARKER} entry ${i} ${'x'.repeat(i % 50)}`;
    bySeq.set(log.append(text), text);
    if (i % 10 === 9) while (log.stats().entries < i - from + 1) await new Promise((r) => setImmediate(r));
  }
  await log.close();
  return bySeq;
}

function read(dir: string, enc?: EncryptionOptions): Map<number, string> {
  return new Map([...readLogSync({ dir, encryption: enc })].map((e) => [e.seq, e.text()]));
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Frames of an encrypted (v2) segment: [offset, length]. */
function frames(file: string): [number, number][] {
  const b = fs.readFileSync(file);
  const out: [number, number][] = [];
  for (let off = 80; off + FRAME_HEADER_BYTES <= b.length; ) {
    const len = b.readUInt32LE(off);
    if (len === 0) break;
    out.push([off, len]);
    off += (len + 7) & ~7;
  }
  return out;
}

/** Recompute a frame's CRC (as an attacker who knows the format would), so only the crypto can catch a change. */
function fixCrc(b: Buffer, off: number): void {
  const len = b.readUInt32LE(off);
  b.writeUInt32LE(finishFrameCrc(crc32cRange(frameHeaderCrc(b, off), b, off + FRAME_HEADER_BYTES, off + len)), off + F_CRC);
}

/** Rewrite every frame's prevCrc and CRC in order, so the chain of CRCs holds after any change. */
function rechain(b: Buffer): Buffer {
  let prev = b.readUInt32LE(76);
  for (let off = 80; off + FRAME_HEADER_BYTES <= b.length; ) {
    const len = b.readUInt32LE(off);
    if (len === 0) break;
    b.writeUInt32LE(prev, off + 8);
    fixCrc(b, off);
    prev = b.readUInt32LE(off + F_CRC);
    off += (len + 7) & ~7;
  }
  return b;
}

describe('encryption at rest', () => {
  it('never writes the plaintext, and the right key reads every entry back across reopens', async () => {
    const dir = logDir();
    const enc = { keys: { k1: key() }, keyId: 'k1' };
    const a = await writeEncrypted(dir, enc, 300);
    const b = await writeEncrypted(dir, enc, 50, 300);
    for (const f of allFiles(dir)) expect(fs.readFileSync(f).includes(Buffer.from(MARKER)), f).toBe(false);
    expect(segmentFiles(dir).length).toBeGreaterThan(3);
    const got = read(dir, enc);
    expect(got).toEqual(new Map([...a, ...b]));
    // the key bytes themselves never reach the disk either
    for (const f of allFiles(dir)) expect(fs.readFileSync(f).includes(Buffer.from(enc.keys.k1))).toBe(false);
  });

  it('a missing or wrong key is a KeyError naming the key id', async () => {
    const dir = logDir();
    await writeEncrypted(dir, { keys: { k1: key() }, keyId: 'k1' }, 30);
    for (const enc of [undefined, { keys: { k1: key() } }, { keys: { other: key() } }] as ({ keys: Record<string, Uint8Array> } | undefined)[]) {
      const e = thrown(() => read(dir, enc));
      expect(e).toBeInstanceOf(KeyError);
      expect((e as KeyError).code).toBe('ERR_SHARDLOG_KEY');
      expect((e as KeyError).keyId).toBe('k1');
    }
    // and opening the log for writing with the wrong key: recovery refuses at the header
    const e = await openLog({ dir, shards: 1, encryption: { keys: { k1: key() }, keyId: 'k1' } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyError);
  });

  it('key rotation: a reopen with a new keyId seals new segments under it; both keys read everything', async () => {
    const dir = logDir();
    const k1 = key();
    const k2 = key();
    const a = await writeEncrypted(dir, { keys: { k1 }, keyId: 'k1' }, 40);
    const b = await writeEncrypted(dir, { keys: { k1, k2 }, keyId: 'k2' }, 40, 40);
    expect(read(dir, { keys: { k1, k2 } })).toEqual(new Map([...a, ...b]));
    expect(thrown(() => read(dir, { keys: { k2 } }))).toBeInstanceOf(KeyError);
    const ids = segmentFiles(dir).map((f) => fs.readFileSync(f).subarray(48, 64).toString('latin1').replace(/\0+$/, ''));
    expect(ids[0]).toBe('k1');
    expect(ids.at(-1)).toBe('k2');
  });

  it('a last segment whose frames a crash all cut is replaced, not appended to (its name is taken again)', async () => {
    const dir = logDir();
    const enc = { keys: { k1: key() }, keyId: 'k1' };
    const a = await writeEncrypted(dir, enc, 60);
    const last = segmentFiles(dir).at(-1)!;
    const lost = [...read(dir, enc).keys()].filter((s) => s >= Number(path.basename(last, '.wal')));
    fs.truncateSync(last, 80); // only the header reached the disk
    const b = await writeEncrypted(dir, enc, 10, 60);
    for (const s of lost) a.delete(s);
    expect(read(dir, enc)).toEqual(new Map([...a, ...b]));
  });

  it('refuses a bad encryption option with InvalidArgumentError, creating nothing', async () => {
    const dir = logDir();
    for (const enc of [{ keys: { k1: key().subarray(1) }, keyId: 'k1' }, { keys: { k1: key() }, keyId: 'k2' }, { keys: { 'k 1': key() }, keyId: 'k 1' }] as { keys: Record<string, Uint8Array>; keyId: string }[]) {
      const e = await openLog({ dir, encryption: enc }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InvalidArgumentError);
    }
    const e = await openLog({ dir, format: 'lines', encryption: { keys: { k1: key() }, keyId: 'k1' } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(fs.existsSync(dir)).toBe(false);
  });

  describe('tampering (CRC fixed up, so only the crypto catches it)', () => {
    async function sealedSegment(): Promise<{ dir: string; enc: EncryptionOptions; file: string; fr: [number, number][] }> {
      const dir = logDir();
      const enc = { keys: { k1: key() }, keyId: 'k1' };
      await writeEncrypted(dir, enc, 60, 0, { segmentBytes: 1 << 20 });
      const file = segmentFiles(dir)[0]!;
      const fr = frames(file);
      expect(fr.length).toBeGreaterThan(3);
      return { dir, enc, file, fr };
    }

    const cases: [string, (b: Buffer, fr: [number, number][]) => Buffer][] = [
      ['a flipped bit in the ciphertext', (b, fr) => { b[fr[1]![0] + 40]! ^= 4; fixCrc(b, fr[1]![0]); return b; }],
      ['a flipped bit in the tag', (b, fr) => { b[fr[1]![0] + fr[1]![1] - 3]! ^= 1; fixCrc(b, fr[1]![0]); return b; }],
      ['a flipped bit in the frame header (its first seq)', (b, fr) => { b[fr[1]![0] + 16]! ^= 1; fixCrc(b, fr[1]![0]); return b; }],
      ['a swapped frame pair', (b, fr) => {
        const [[o1, l1], [o2, l2]] = [fr[1]!, fr[2]!];
        const f1 = Buffer.from(b.subarray(o1, o1 + l1));
        const f2 = Buffer.from(b.subarray(o2, o2 + l2));
        // keep the crc chain intact: each frame's prevCrc rewritten, CRCs recomputed
        const prev = b.readUInt32LE(o1 + 8);
        const out = Buffer.concat([b.subarray(0, o1), f2, f1, b.subarray(o2 + l2)]);
        out.writeUInt32LE(prev, o1 + 8);
        fixCrc(out, o1);
        out.writeUInt32LE(out.readUInt32LE(o1 + 4), o1 + l2 + 8);
        fixCrc(out, o1 + l2);
        out.writeUInt32LE(out.readUInt32LE(o1 + l2 + 4), o1 + l1 + l2 + 8);
        fixCrc(out, o1 + l1 + l2);
        return out;
      }],
      ['a removed frame', (b, fr) => {
        const [o1, l1] = fr[1]!;
        const out = Buffer.concat([b.subarray(0, o1), b.subarray(o1 + l1)]);
        out.writeUInt32LE(b.readUInt32LE(o1 + 8), o1 + 8);
        fixCrc(out, o1);
        return out;
      }],
    ];
    for (const [name, damage] of cases) {
      it(`${name} is corruption (CorruptLogError), never garbage`, async () => {
        const { dir, enc, file, fr } = await sealedSegment();
        fs.writeFileSync(file, rechain(damage(fs.readFileSync(file), fr)));
        const e = thrown(() => read(dir, enc));
        expect(e).toBeInstanceOf(CorruptLogError);
        expect((e as CorruptLogError).code).toBe('ERR_SHARDLOG_CORRUPT');
        expect((e as Error).message).toContain('authentication');
      });
    }

    it('a frame copied from another segment of the same log is corruption', async () => {
      const dir = logDir();
      const enc = { keys: { k1: key() }, keyId: 'k1' };
      await writeEncrypted(dir, enc, 60, 0, { segmentBytes: 1 << 20 });
      await writeEncrypted(dir, enc, 60, 60, { segmentBytes: 1 << 20 });
      const [fa, fb] = segmentFiles(dir);
      const a = fs.readFileSync(fa!);
      const b = fs.readFileSync(fb!);
      const [oa, la] = frames(fa!)[1]!;
      const [ob, lb] = frames(fb!)[1]!;
      const foreign = Buffer.from(b.subarray(ob, ob + lb));
      foreign.writeUInt32LE(a.readUInt32LE(oa + 8), 8); // its prevCrc made to fit the chain
      fixCrc(foreign, 0);
      const out = Buffer.concat([a.subarray(0, oa), foreign, a.subarray(oa + la)]);
      out.writeUInt32LE(foreign.readUInt32LE(4), oa + lb + 8);
      fixCrc(out, oa + lb);
      fs.writeFileSync(fa!, rechain(out));
      const e = thrown(() => read(dir, enc));
      expect(e).toBeInstanceOf(CorruptLogError);
      expect((e as Error).message).toContain('authentication');
    });

    it('a tampered last frame of the last segment is cut by recovery like a torn frame', async () => {
      const { dir, enc, file, fr } = await sealedSegment();
      const b = fs.readFileSync(file);
      const [o, l] = fr.at(-1)!;
      b[o + 40]! ^= 1;
      fixCrc(b, o);
      fs.writeFileSync(file, b);
      const log = await openLog({ dir, encryption: enc });
      expect(log.recovery[0]!.bytesCut).toBe(l);
      await log.close();
      expect(read(dir, enc).size).toBeGreaterThan(0);
    });
  });
});
