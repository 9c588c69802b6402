/**
 * Engine: an append wakes a sleeping writer at once. The producer reads the writer's doorbell flag
 * after publishing (a plain load on x86, ring-protocol.ts PLAIN_PRODUCER_READS); a wake-up lost
 * there would leave the entry in the ring until the writer's idle timeout (a second). No durable()
 * here: it rings the doorbell itself and would hide a lost one. Each path of the producer is
 * covered: exclusive strings and bytes, the shared path, appendMany.
 */
import { describe, expect, it } from 'vitest';
import { openLog, type Log } from '@shardlog/core';
import { logDir } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ms from the append until the writer has written it (its entry counter), polled every ms. */
async function writtenAfter(log: Log, append: () => void): Promise<number> {
  const before = log.stats().entries;
  const t0 = Date.now();
  append();
  while (log.stats().entries === before) {
    if (Date.now() - t0 > 5000) break;
    await sleep(1);
  }
  return Date.now() - t0;
}

describe('the doorbell', () => {
  for (const mode of ['exclusive', 'shared'] as const) {
    it(`${mode}: every append to a sleeping writer is written well before its idle timeout`, async () => {
      const log = await openLog({ dir: logDir(), shards: 1, sync: 'none' });
      if (mode === 'shared') log.producerHandle();
      const waits: number[] = [];
      const bytes = new Uint8Array(100).fill(7);
      for (let i = 0; i < 30; i++) {
        await sleep(15); // long enough for the writer to go to sleep
        const k = i % 3;
        waits.push(await writtenAfter(log, () => (k === 0 ? log.append(`entry ${i}`) : k === 1 ? log.append(bytes) : log.appendMany([`a ${i}`, `b ${i}`]))));
      }
      await log.close();
      // a lost wake-up costs the writer's idle timeout (1000 ms from when it went idle, ~15 ms before the
      // append: ~985 ms); scheduling delays on a loaded CI machine cost less
      expect(Math.max(...waits), `waits: ${waits.join(' ')}`).toBeLessThan(900);
    });
  }
});
