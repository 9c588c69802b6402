/**
 * Ways to encode a 100-byte string entry into a SharedArrayBuffer, measured against each other in
 * one process (the producer's choice of encoding path, docs/BENCHMARKS.md "The producer's encoding
 * paths"). Each strategy writes at a moving offset of a 256 KiB shared ring; the rounds alternate
 * the strategies (61 rounds of 5,000 writes each) and the minimum, 10th percentile and median ns
 * per write are printed. A strategy whose bytes differ from Buffer.from(s, 'utf8') is marked WRONG.
 *
 *   node packages/bench/dist/encoders.js [strategy,strategy,...]   (--help: the strategies)
 *
 * Pools: ascii (100 ASCII chars), two (50 two-byte chars), mix (the bench's utf8 pool: 2-, 3- and
 * 4-byte characters among ASCII).
 */
import { stringPool } from './entries.js';
import { toolArgsWithPositionals, usageExit } from './tool-args.js';

interface FastBuffer extends Buffer {
  utf8Write(s: string, offset: number, length: number): number;
  latin1Write(s: string, offset: number, length: number): number;
  asciiWrite(s: string, offset: number, length: number): number;
}
type Strategy = (s: string, off: number) => number;

const RING = 1 << 18;
const sab = new SharedArrayBuffer(RING + 4096);
const buf = Buffer.from(sab) as FastBuffer;
const u8 = new Uint8Array(sab);
const i32 = new Int32Array(sab);
const scab = new ArrayBuffer(1024);
const scratch = Buffer.from(scab) as FastBuffer;
const sc32 = new Int32Array(scab);
const encoder = new TextEncoder();
const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 in JavaScript, the bytes of Buffer.from(s, 'utf8') (a lone surrogate becomes U+FFFD). */
function jsUtf8(s: string, off: number): number {
  const n = s.length;
  let o = off;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      u8[o++] = c;
      continue;
    }
    if (c < 0x800) {
      u8[o] = 0xc0 | (c >> 6);
      u8[o + 1] = 0x80 | (c & 63);
      o += 2;
      continue;
    }
    if (c >= 0xd800 && c < 0xe000) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
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
    u8[o] = 0xe0 | (c >> 12);
    u8[o + 1] = 0x80 | ((c >> 6) & 63);
    u8[o + 2] = 0x80 | (c & 63);
    o += 3;
  }
  return o - off;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The shared-mode producer's path: encode into a private scratch buffer, copy by Int32 words. */
function scratchCopy(s: string, off: number): number {
  const n = scratch.utf8Write(s, 0, s.length * 3);
  scratch[n] = 0;
  scratch[n + 1] = 0;
  scratch[n + 2] = 0;
  const d = off >> 2;
  const w = (n + 3) >> 2;
  for (let i = 0; i < w; i++) i32[d + i] = sc32[i];
  return n;
}

const STRATEGIES: Record<string, Strategy> = {
  utf8Write3x: (s, off) => buf.utf8Write(s, off, s.length * 3),
  byteLengthLatin1: (s, off) => {
    const b = Buffer.byteLength(s, 'utf8');
    return b === s.length ? buf.latin1Write(s, off, b) : buf.utf8Write(s, off, b);
  },
  latin1Only: (s, off) => buf.latin1Write(s, off, s.length),
  asciiOnly: (s, off) => buf.asciiWrite(s, off, s.length),
  regexLatin1: (s, off) => (NON_ASCII.test(s) ? buf.utf8Write(s, off, s.length * 3) : buf.latin1Write(s, off, s.length)),
  loopLatin1: (s, off) => (isAscii(s) ? buf.latin1Write(s, off, s.length) : buf.utf8Write(s, off, s.length * 3)),
  jsUtf8,
  encodeIntoSubarray: (s, off) => encoder.encodeInto(s, u8.subarray(off, off + s.length * 3)).written,
  scratchCopy,
};

function pools(): Record<string, string[]> {
  const ascii = stringPool('ascii');
  const TWO = '\u00e9\u00df\u00fc\u0436\u03bb\u00f1\u00f8\u00e5\u00e7\u0161\u017e\u0434\u0444\u044b\u03a9\u03c0';
  const two = ascii.map((_, i) => {
    let r = '';
    for (let k = 0; k < 50; k++) r += TWO[(i * 7 + k * 3) % TWO.length];
    return Buffer.from(r).toString();
  });
  return { ascii, two, mix: stringPool('utf8') };
}

function wrongBytes(f: Strategy, pool: string[]): boolean {
  for (let i = 0; i < 50; i++) {
    u8.fill(0, 0, 400);
    const n = f(pool[i], 0);
    if (Buffer.compare(buf.subarray(0, n), Buffer.from(pool[i], 'utf8')) !== 0) return true;
  }
  return false;
}

/** One loop per strategy, each its own function (its own type feedback, so V8 inlines the strategy). */
function makeLoop(f: Strategy, pool: string[]): (n: number) => number {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a fresh function per strategy on purpose
  const make = new Function('f', 'pool', 'MASK', 'return function (n) { let off = 0, k = 0; for (let i = 0; i < n; i++) { const w = f(pool[k], off); k = (k + 1) & 1023; off = (off + ((w + 23) & ~7)) & MASK; } return off; }');
  return make(f, pool, RING - 1) as (n: number) => number;
}

const USAGE = `Usage: node packages/bench/dist/encoders.js [STRATEGY,STRATEGY,...]

Ways to encode a 100-byte string entry into a SharedArrayBuffer, measured against each other in one
process: min, p10 and p50 ns per write for each pool (ascii, two, mix). A strategy whose bytes
differ from Buffer.from(s, 'utf8') is marked WRONG BYTES.

Strategies (default: all): ${Object.keys(STRATEGIES).join(', ')}

Options:
  -h, --help   this help
`;

function main(): void {
  const { positionals } = toolArgsWithPositionals(USAGE, {});
  if (positionals.length > 1) usageExit(USAGE, `one comma-separated list of strategies, got ${positionals.length} arguments`);
  const only = positionals[0] ? positionals[0].split(',') : Object.keys(STRATEGIES);
  const unknown = only.find((name) => !Object.hasOwn(STRATEGIES, name));
  if (unknown !== undefined) usageExit(USAGE, `unknown strategy ${JSON.stringify(unknown)}: the strategies are ${Object.keys(STRATEGIES).join(', ')}`);
  const out: Record<string, string> = {};
  for (const [pn, pool] of Object.entries(pools())) {
    const loops = only.map((name) => [name, makeLoop(STRATEGIES[name], pool)] as const);
    for (const [, loop] of loops) loop(100_000);
    const times = new Map<string, number[]>(only.map((name) => [name, []]));
    for (let r = 0; r < 61; r++) {
      for (const [name, loop] of loops) {
        const t = process.hrtime.bigint();
        loop(5000);
        times.get(name)!.push(Number(process.hrtime.bigint() - t) / 5000);
      }
    }
    for (const name of only) {
      const a = times.get(name)!.sort((x, y) => x - y);
      const wrong = wrongBytes(STRATEGIES[name], pool) ? ' WRONG BYTES' : '';
      out[`${pn} ${name}`] = `min ${a[0].toFixed(1)}  p10 ${a[6].toFixed(1)}  p50 ${a[30].toFixed(1)}${wrong}`;
    }
  }
  process.stdout.write(`${process.version}\n${Object.entries(out).map(([k, v]) => `${k.padEnd(28)} ${v}`).join('\n')}\n`);
}

main();
