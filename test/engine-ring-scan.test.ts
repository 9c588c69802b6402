/**
 * The writer's two ways of reading the ring's length words (ring-protocol.ts PLAIN_LENGTH_READS):
 * plain loads on x86, Atomics.load elsewhere (SHARDLOG_RING_SCAN=atomic forces it). Both must write
 * every entry, in order, through ring wraps, padding and appendMany batches: the acquire path is run
 * here too, so x86 CI covers what arm64 runs.
 */
import { describe, expect, it } from 'vitest';
import { runModule, tmpDir } from './helpers.js';

const SCRIPT = `
import { openLog, readLogSync } from '@shardlog/core';
import { PLAIN_LENGTH_READS } from '@shardlog/workers';
const log = await openLog({ dir: process.env.LOG_DIR, shards: 1, ringBytes: 64 * 1024, onFull: 'wait' });
const want = [];
for (let i = 0; i < 20000; i++) {
  const s = 'e' + i + '-' + 'x'.repeat((i * 37) % 900);
  if (i % 100 === 0) { const batch = [s, s + 'b', s + 'c']; log.appendMany(batch); want.push(...batch); }
  else { log.append(s); want.push(s); }
}
await log.close();
const got = [...readLogSync({ dir: process.env.LOG_DIR })].map((e) => e.text());
const same = got.length === want.length && got.every((t, k) => t === want[k]);
process.stdout.write(JSON.stringify({ plain: PLAIN_LENGTH_READS, count: got.length, want: want.length, same }));
`;

describe('ring scan: plain and atomic length-word reads', () => {
  for (const mode of ['atomic', 'default'] as const) {
    it(`${mode}: every entry written, in order, through wraps, padding and appendMany`, { timeout: 60_000 }, async () => {
      const env: Record<string, string> = { LOG_DIR: tmpDir() };
      if (mode === 'atomic') env.SHARDLOG_RING_SCAN = 'atomic';
      const r = await runModule(SCRIPT, env);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { plain: boolean; count: number; want: number; same: boolean };
      expect(out.plain).toBe(mode === 'default' && (process.arch === 'x64' || process.arch === 'ia32'));
      expect(out.count).toBe(out.want);
      expect(out.same).toBe(true);
    });
  }
});
