/**
 * Kill mode: a forked writer child appends from three producers and is SIGKILLed mid-load; the
 * runner reopens the log (recovery) and proves every entry the child reported acknowledged
 * (durable() resolved) before the kill is there. With --tear, a last segment is damaged first.
 */
import { describe, expect, it } from 'vitest';
import { runStress } from '@shardlog/cli/stress';

describe('stress runner, kill mode', () => {
  it('loses nothing acknowledged when the writer process is SIGKILLed', async () => {
    // a fixed moment two thirds into the load: a seeded random one can fall early enough that, on a
    // loaded machine, nothing was acknowledged yet, and the test would then prove nothing
    const r = await runStress({ durationMs: 5000, killAt: 1000, producers: 2, shards: 2, seed: 21 });
    expect(r.failures).toEqual([]);
    const k = r.faults!.kill!;
    expect(k).toHaveLength(1);
    expect(k[0].killed).toBe(true);
    expect(k[0].acknowledgedAtKill).toBeGreaterThan(0);
    expect(k[0].recovery).toHaveLength(2);
    expect(r.verification).toMatchObject({ ok: true, lost: 0, duplicates: 0, corrupt: 0, outOfOrder: 0 });
    expect(r.verification!.acknowledgedPresent).toBe(k[0].acknowledgedAtKill);
  });

  it('survives torn tails over several kill / recover cycles on the same log', async () => {
    const r = await runStress({ durationMs: 3000, killAt: 400, rate: 100_000, tear: 'tail', cycles: 3, producers: 1, shards: 2, seed: 22, size: { kind: 'uniform', min: 24, max: 2000 } });
    expect(r.failures).toEqual([]);
    const cycles = r.faults!.kill!;
    expect(cycles).toHaveLength(3);
    for (const c of cycles) {
      expect(c.killed).toBe(true);
      expect(c.openError).toBeUndefined();
      if (c.tear!.applied) {
        // the tear only ever starts past the acknowledged data, and recovery cut what it damaged
        expect(c.tear!.offset).toBeGreaterThanOrEqual(c.tear!.ackedEnd!);
        const rec = c.recovery!.find((x) => x.shard === c.tear!.shard)!;
        if (c.tear!.kind !== 'truncate') expect(rec.bytesCut).toBeGreaterThan(0);
      }
    }
    expect(cycles.some((c) => c.tear!.applied)).toBe(true);
    // every cycle's acknowledged entries are still there after the later cycles' recoveries
    expect(r.verification).toMatchObject({ ok: true, lost: 0, producers: 6 });
    expect(r.verification!.acknowledged).toBe(cycles.reduce((a, c) => a + c.acknowledgedAtKill, 0));
  });

  it('reports corruption of acknowledged (synced) data loudly instead of cutting it', async () => {
    const r = await runStress({ durationMs: 3000, killAt: 500, tear: 'synced', producers: 1, shards: 2, seed: 23 });
    expect(r.failures).toEqual([]);
    const c = r.faults!.kill![0];
    expect(c.tear).toMatchObject({ mode: 'synced', applied: true, kind: 'flip' });
    const loud = c.openError?.code ?? r.verification?.readError?.code;
    expect(loud).toBe('ERR_SHARDLOG_CORRUPT');
  });
});
