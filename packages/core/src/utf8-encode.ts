/**
 * A UTF-8 encoder in JavaScript for strings whose characters change width often (ASCII mixed with
 * 2-, 3- and 4-byte characters), and the rule that picks it over Node's native utf8Write.
 *
 * Node's utf8Write (V8's String::WriteUtf8) branches on each character's width; on text where the
 * width changes at random the branches mispredict, and a 100-byte entry of mixed widths costs
 * ~330 ns against ~100 ns for the same bytes of uniform width (docs/BENCHMARKS.md, "Multi-byte
 * strings"). This encoder computes the width arithmetically and picks the lead byte and shifts from
 * small tables, so only surrogate pairs branch: ~190 ns for the mixed entry. It is slower on ASCII
 * (~270 vs ~45 ns) and on uniform text, so the producer uses it only when the previous string it
 * encoded was of mixed width (`preferJsUtf8`): a steady stream of one kind settles on the faster
 * path for it after one entry.
 *
 * The bytes are exactly Buffer.from(s, 'utf8')'s, unpaired surrogates included (EF BF BD). The
 * encoder writes up to two bytes past the end of what it returns (each character stores three
 * bytes, then advances by its width): the caller needs 2 bytes of slack and zeroes them after.
 */

const LEAD = new Uint8Array([0, 0, 0xc0, 0xe0]);
const SHIFT_LEAD = new Uint8Array([0, 0, 6, 12]);
const SHIFT_MID = new Uint8Array([0, 0, 0, 6]);

/**
 * Longest string (UTF-16 units) given to the JavaScript encoder: past it the native one is used
 * whatever the last string was, so a long ASCII string after a mixed one costs at most ~3 µs more
 * (the JavaScript loop is ~2.7 ns a unit on ASCII, the native copy a fraction of that).
 */
export const UTF8_JS_MAX_CHARS = 1024;

/** Bytes written past the returned length, at most (the caller's slack; they must be zeroed). */
export const UTF8_JS_SLACK = 2;

/** Encode s as UTF-8 into u8 at off; returns the byte length. Needs s.length * 3 + 2 bytes of room. */
export function encodeUtf8Js(u8: Uint8Array, s: string, off: number): number {
  const n = s.length;
  let o = off;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if ((c & 0xf800) === 0xd800) {
      // a surrogate: a high one followed by a low one is a 4-byte character, anything else U+FFFD
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && (d & 0xfc00) === 0xdc00) {
        const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        u8[o] = 0xf0 | (cp >> 18);
        u8[o + 1] = 0x80 | ((cp >> 12) & 63);
        u8[o + 2] = 0x80 | ((cp >> 6) & 63);
        u8[o + 3] = 0x80 | (cp & 63);
        o += 4;
        i++;
        continue;
      }
      c = 0xfffd;
    }
    // width 1, 2 or 3 without a branch: (0x7f - c) >>> 31 is 1 when c > 0x7f
    const len = 1 + ((0x7f - c) >>> 31) + ((0x7ff - c) >>> 31);
    u8[o] = LEAD[len] | (c >> SHIFT_LEAD[len]);
    u8[o + 1] = 0x80 | ((c >> SHIFT_MID[len]) & 63);
    u8[o + 2] = 0x80 | (c & 63);
    o += len;
  }
  return o - off;
}

/**
 * Whether the next string should take the JavaScript encoder, judging by the last one: `bytes` of
 * UTF-8 for `chars` UTF-16 units. Mixed width is a ratio between 1.25 and 2.75 that is not exactly 2
 * (all 2-byte characters). Mostly-ASCII text with a few accents (ratio near 1), uniform 2-byte
 * text and CJK text (near 3) stay on the native path, which is faster for them.
 */
export function preferJsUtf8(bytes: number, chars: number): boolean {
  return 4 * bytes >= 5 * chars && 4 * bytes <= 11 * chars && bytes !== 2 * chars;
}
