/**
 * Damage in encrypted segments, read past with skipCorrupt. Each frame's nonce is its index in the
 * segment and its AAD ends with the previous frame's tag, so after a skipped frame the scanner must
 * take the chain up again from the file (reopenChain): the frames after the damage are read, and
 * recovery never cuts them as a torn tail (it used to: every frame after the damage failed its tag,
 * the last one was cut, and the log then handed out seqs it had already used). Also: zeros over
 * whole frames of an older segment are skipped to the frames after them, not to the segment's end.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, openLog, readLogSync, type SkippedRegion } from '@shardlog/core';
import { logDir, segmentFiles } from './helpers.js';

/** Offsets of the frames of a version 2 segment (after its 80-byte header): each frame's length is its first word. */
function frameOffsets(file: string): number[] {
  const b = fs.readFileSync(file);
  const out: number[] = [];
  for (let off = 80; off + 4 <= b.length; ) {
    const len = b.readUInt32LE(off);
    if (len === 0) break;
    out.push(off);
    off += (len + 7) & ~7;
  }
  return out;
}

/** A one-shard log of `n` entries, one frame each (each awaited), closed; then `damage` applied to its (first) segment. */
async function written(n: number, enc?: { keys: Record<string, Uint8Array>; keyId: string }, rotateAt?: number) {
  const dir = logDir();
  const log = await openLog({ dir, shards: 1, encryption: enc });
  for (let i = 1; i <= n; i++) {
    log.append(`entry ${i}`);
    await log.durable();
    if (i === rotateAt) await log.rotate();
  }
  await log.close();
  return { dir, file: segmentFiles(dir)[0] };
}

function flip(file: string, at: number): void {
  const b = fs.readFileSync(file);
  b[at] ^= 0x40;
  fs.writeFileSync(file, b);
}

const texts = (dir: string, o: object = {}) => [...readLogSync({ dir, ...o })].map((e) => e.text());

describe('skipCorrupt in encrypted segments', () => {
  const enc = { keys: { k1: randomBytes(32) }, keyId: 'k1' };

  it('recovery skips one damaged frame of the last segment and keeps every frame after it; seqs go on', async () => {
    const { dir, file } = await written(6, enc);
    const size = fs.statSync(file).size;
    const frames = frameOffsets(file);
    flip(file, frames[1] + 40); // frame 2's ciphertext
    await expect(openLog({ dir, encryption: enc })).rejects.toThrow(CorruptLogError);
    const log = await openLog({ dir, encryption: enc, skipCorrupt: true });
    expect(log.recovery[0]).toMatchObject({ skippedRegions: 1, bytesCut: 0, records: 5, lastSeq: 6 });
    expect(fs.statSync(file).size).toBe(size); // nothing cut
    expect(log.append('entry 7')).toBe(7);
    await log.close();
    const regions: SkippedRegion[] = [];
    expect(texts(dir, { encryption: enc, skipCorrupt: true, onSkip: (r: SkippedRegion) => regions.push(r) })).toEqual(['entry 1', 'entry 3', 'entry 4', 'entry 5', 'entry 6', 'entry 7']);
    expect(regions).toHaveLength(1);
    expect(regions[0]).toMatchObject({ file, offset: frames[1] });
    // and it opens again (the new entry went on in the same or a new segment, never over an old name)
    const again = await openLog({ dir, encryption: enc, skipCorrupt: true });
    expect(again.nextSeq).toBe(8);
    await again.close();
  });

  it("a damaged tag costs the next frame too (its AAD is that tag), and the chain is taken up after it", async () => {
    const { dir, file } = await written(8, enc, 8);
    const frames = frameOffsets(file);
    const b = fs.readFileSync(file);
    const tagEnd = frames[3] - 1; // frame 3's tag sits just before frame 4 (less its zero padding)
    let at = tagEnd;
    while (b[at] === 0) at--;
    flip(file, at); // inside frame 3's tag
    const regions: SkippedRegion[] = [];
    const got = texts(dir, { encryption: enc, skipCorrupt: true, onSkip: (r: SkippedRegion) => regions.push(r) });
    expect(got).toEqual(['entry 1', 'entry 2', 'entry 5', 'entry 6', 'entry 7', 'entry 8']);
    expect(regions.map((r) => r.offset)).toEqual([frames[2], frames[3]]);
  });

  it('an older segment: every frame after the damaged one is read, one region reported', async () => {
    const { dir, file } = await written(9, enc, 8);
    expect(segmentFiles(dir)).toHaveLength(2);
    flip(file, frameOffsets(file)[1] + 40);
    const regions: SkippedRegion[] = [];
    const got = [...readLogSync({ dir, encryption: enc, skipCorrupt: true, onSkip: (r) => regions.push(r) })].map((e) => e.seq);
    expect(got).toEqual([1, 3, 4, 5, 6, 7, 8, 9]);
    expect(regions).toHaveLength(1);
  });
});

describe('zeros over whole frames of an older segment', () => {
  it('are skipped to the frames after them (not to the end of the segment)', async () => {
    const { dir, file } = await written(9, undefined, 8);
    const frames = frameOffsets(file);
    const b = fs.readFileSync(file);
    b.fill(0, frames[2], frames[4]); // frames 3 and 4, exactly
    fs.writeFileSync(file, b);
    const regions: SkippedRegion[] = [];
    const got = [...readLogSync({ dir, skipCorrupt: true, onSkip: (r) => regions.push(r) })].map((e) => e.seq);
    expect(got).toEqual([1, 2, 5, 6, 7, 8, 9]);
    expect(regions).toEqual([expect.objectContaining({ file, offset: frames[2], bytes: frames[4] - frames[2] })]);
    expect(() => [...readLogSync({ dir })]).toThrow(CorruptLogError);
  });
});
