/**
 * Engine: a string entry lands on disk as exactly the bytes of Buffer.from(s, 'utf8'), on every
 * encoding path of the producer (exclusive: straight into the ring; shared: short strings through
 * the producer's scratch buffer, long ones sized first; appendMany: sized first, ASCII copied as
 * Latin-1), with zero record padding.
 */
import { describe, expect, it } from 'vitest';
import { openLog, readLogSync } from '@shardlog/core';
import { logDir, paddingIsZero, segmentFiles } from './helpers.js';
import * as fs from 'node:fs';

/** ASCII, Latin-1 range, two-, three- and four-byte characters, lone and misordered surrogates. */
const SAMPLES = [
  'plain ascii',
  'caf\u00e9 \u00e9t\u00e9 \u00ff',
  '\u0436\u03bb\u0141\u0100 two-byte',
  '\u20ac\u65e5\u672c\u8a9e three-byte',
  '\u{1f600}\u{1f680} four-byte',
  'lone high \ud83d',
  '\ud83d',
  'lone low \ude00 in the middle',
  'reversed pair \ude00\ud83d',
  '',
  'x',
  'y'.repeat(7),
  'z', // after a longer entry: stale scratch bytes must not reach the padding
  '\u00e9'.repeat(120), // 240 bytes from 120 units: the short (scratch) path
  '\u00e9'.repeat(300), // 300 units: the long path (sized with Buffer.byteLength)
  'a'.repeat(256),
  'b'.repeat(257),
  '\u{1f600}'.repeat(128),
  'c',
  'ends with newline\n',
  '\u00e9\n', // as many UTF-16 units as its bytes but one, and a newline: not ASCII
  'x\u00e9\n',
];

describe('string entries on disk', () => {
  for (const format of ['framed', 'lines'] as const) {
    for (const mode of ['exclusive', 'shared'] as const) {
      it(`${format}, ${mode} producer: exactly the bytes of Buffer.from(s, 'utf8'), zero record padding`, async () => {
        const dir = logDir();
        const log = await openLog({ dir, shards: 1, format });
        if (mode === 'shared') log.producerHandle(); // the main thread now takes the shared path
        for (const s of SAMPLES) log.append(s);
        log.appendMany(SAMPLES); // appendMany's own encoding path
        await log.close();
        const want = [...SAMPLES, ...SAMPLES].map((s) => Buffer.from(format === 'lines' && !s.endsWith('\n') ? `${s}\n` : s, 'utf8'));
        if (format === 'lines') {
          // plain text files: exactly the entries' bytes, each ended by one newline
          const text = Buffer.concat(segmentFiles(dir, 0).map((f) => fs.readFileSync(f)));
          expect(text).toEqual(Buffer.concat(want));
        } else {
          expect([...readLogSync({ dir })].map((e) => Buffer.from(e.data))).toEqual(want);
          expect(paddingIsZero(dir)).toBe(true);
        }
      });
    }
  }
});
