/**
 * Producer: the JavaScript UTF-8 encoder taken for strings of mixed character widths
 * (packages/core/src/utf8-encode.ts). Its bytes must be exactly Buffer.from(s, 'utf8')'s for every
 * string (random code units, unpaired surrogates, every width boundary), it may touch at most two
 * bytes past what it returns, and a log fed strings that switch between the native and the
 * JavaScript path keeps every entry's bytes and zero record padding, exclusive and shared.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openLog, readLogSync } from '@shardlog/core';
import { encodeUtf8Js, preferJsUtf8, UTF8_JS_SLACK } from '../packages/core/src/utf8-encode.js';
import { logDir, paddingIsZero, segmentFiles } from './helpers.js';

/** A small seeded generator, so a failure names a reproducible case. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** Code units from every range that matters: ASCII, 2-byte, 3-byte, surrogates (paired or not), the edges. */
function randomString(r: () => number, maxLen: number): string {
  const EDGES = [0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0xd800, 0xdbff, 0xdc00, 0xdfff];
  const n = Math.floor(r() * maxLen);
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.3) s += String.fromCharCode(Math.floor(r() * 0x80));
    else if (k < 0.45) s += String.fromCharCode(0x80 + Math.floor(r() * 0x780));
    else if (k < 0.6) s += String.fromCharCode(0x800 + Math.floor(r() * (0xd800 - 0x800)));
    else if (k < 0.75) s += String.fromCodePoint(0x10000 + Math.floor(r() * 0xfffff));
    else if (k < 0.85) s += String.fromCharCode(0xd800 + Math.floor(r() * 0x800)); // a lone or misordered surrogate
    else s += String.fromCharCode(EDGES[Math.floor(r() * EDGES.length)]);
  }
  return s;
}

describe('encodeUtf8Js', () => {
  const buf = new Uint8Array(4096);

  function check(s: string): void {
    buf.fill(0xaa);
    const n = encodeUtf8Js(buf, s, 7);
    const want = Buffer.from(s, 'utf8');
    let bad = '';
    if (n !== want.length || !Buffer.from(buf.subarray(7, 7 + n)).equals(want)) bad = `bytes ${Buffer.from(buf.subarray(7, 7 + n)).toString('hex')}, want ${want.toString('hex')}`;
    // nothing before the offset, nothing past the slack
    for (let i = 0; i < 7; i++) if (buf[i] !== 0xaa) bad = `byte ${i - 7} before the offset written`;
    for (let i = 7 + n + UTF8_JS_SLACK; i < 7 + s.length * 3 + 8; i++) if (buf[i] !== 0xaa) bad = `byte ${i - 7 - n} past the end written`;
    expect(bad, JSON.stringify(s)).toBe('');
  }

  it('writes the bytes of Buffer.from(s, "utf8") at every width boundary and for unpaired surrogates', () => {
    for (const s of [
      '',
      'a',
      '\u0000',
      '\u007f\u0080',
      '\u07ff\u0800',
      '\ud7ff\ue000',
      '\uffff\ufffd',
      '\u{10000}\u{10ffff}',
      '\ud800',
      '\udbff',
      '\udc00',
      '\udfff',
      'x\ud800',
      '\ud800x',
      '\udc00\ud800',
      '\ud800\ud800\udc00',
      '\ud83d\ude00\ud83d',
      'mixed é 日本 😀 end',
    ]) {
      check(s);
    }
  });

  it('matches Buffer.from on 20,000 random strings', () => {
    const r = rng(20261201);
    for (let i = 0; i < 20_000; i++) check(randomString(r, 120));
  });
});

describe('preferJsUtf8', () => {
  const pick = (s: string) => preferJsUtf8(Buffer.byteLength(s, 'utf8'), s.length);
  it('takes the JavaScript encoder only for text of mixed widths', () => {
    expect(pick('plain ascii log line with nothing else')).toBe(false);
    expect(pick('une ligne de journal en français, déjà écrite')).toBe(false); // mostly ASCII
    expect(pick('\u0436\u03bb\u0436\u03bb\u0436\u03bb\u0436\u03bb')).toBe(false); // uniform 2-byte
    expect(pick('日本語のログの行です')).toBe(false); // uniform 3-byte
    expect(pick('a é b 日 c 😀 d ж e € f')).toBe(true);
    expect(pick('')).toBe(false);
  });
});

describe('a log fed strings that switch between the encoders', () => {
  for (const format of ['framed', 'lines'] as const) {
    for (const mode of ['exclusive', 'shared'] as const) {
      it(`${format}, ${mode}: every entry's bytes, zero padding`, async () => {
        const r = rng(mode === 'shared' ? 7 : 11);
        const kinds = [
          () => randomString(r, 80), // mixed: the next string takes the JavaScript encoder
          () => 'ascii '.repeat(1 + Math.floor(r() * 20)),
          () => '\u00e9'.repeat(1 + Math.floor(r() * 90)),
          () => '日本'.repeat(1 + Math.floor(r() * 40)),
          () => randomString(r, 400), // past the shared path's scratch size sometimes
          () => randomString(r, 3000), // past UTF8_JS_MAX_CHARS sometimes: native whatever came before
          () => 'x',
        ];
        const entries: string[] = [];
        for (let i = 0; i < 3000; i++) {
          let s = kinds[Math.floor(r() * kinds.length)]();
          if (format === 'lines') s = s.replace(/\n/g, ' '); // a line entry has no newline of its own here
          entries.push(s);
        }
        const dir = logDir();
        const log = await openLog({ dir, shards: 1, format, ringBytes: 64 << 10 });
        if (mode === 'shared') log.producerHandle();
        for (const s of entries) log.append(s);
        await log.close();
        const want = entries.map((s) => Buffer.from(format === 'lines' ? `${s}\n` : s, 'utf8'));
        if (format === 'lines') {
          // plain text files: exactly the entries' bytes, each ended by one newline
          const text = Buffer.concat(segmentFiles(dir, 0).map((f) => fs.readFileSync(f)));
          expect(text.equals(Buffer.concat(want))).toBe(true);
        } else {
          const got = [...readLogSync({ dir })].map((e) => Buffer.from(e.data));
          expect(got.length).toBe(entries.length);
          for (let i = 0; i < entries.length; i++) expect(got[i].equals(want[i]), `entry ${i}: ${JSON.stringify(entries[i]).slice(0, 80)}`).toBe(true);
          expect(paddingIsZero(dir)).toBe(true);
        }
      });
    }
  }
});
