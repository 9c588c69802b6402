/**
 * Failure modes that must be loud: a full disk (ENOSPC on a small tmpfs / loop filesystem of the
 * runner's own) and a shard writer thread that dies. In both, appends must throw ShardFailedError,
 * durable() must reject (not hang), close() must reject, and after a reopen every acknowledged entry
 * must be there and the log must take appends again.
 */
import { describe, expect, it } from 'vitest';
import { runStress } from '@shardlog/cli/stress';
import { mountSmallFs } from '@shardlog/cli/internal/stress/small-fs';

describe('stress runner, loud failures', () => {
  it('a dying writer thread fails the log loudly, then the log recovers', async () => {
    const r = await runStress({ writerExit: 20, producers: 2, shards: 2, seed: 31 });
    expect(r.failures).toEqual([]);
    const f = r.faults!;
    expect(f.failure?.code).toBe('ERR_SHARDLOG_SHARD_FAILED');
    expect(f.appendErrors).toBe(3);
    expect(f.durableProbesRejected).toBe(3);
    expect(f.closeError?.code).toBe('ERR_SHARDLOG_SHARD_FAILED');
    expect(f.afterRecovery!.entries).toBeGreaterThan(0);
    expect(r.verification).toMatchObject({ ok: true, lost: 0, duplicates: 0, corrupt: 0 });
  });

  // These two need a small filesystem of their own (a tmpfs or loop mount: root, as CI runs). They
  // are never skipped: without the mount they fail and say why.
  it('a full disk fails the log with ENOSPC, loses nothing acknowledged, and recovers once space is freed', async () => {
    const r = await runStress({ fullDisk: true, diskBytes: 24 * 1024 * 1024, producers: 2, shards: 2, seed: 32 });
    expect(r.skipped, 'the full-disk test needs to mount a small filesystem (run the suite as root)').toBeUndefined();
    expect(r.failures).toEqual([]);
    const f = r.faults!;
    expect(f.fullDisk?.fillerBytes).toBeGreaterThan(0);
    expect(f.failure).toMatchObject({ code: 'ERR_SHARDLOG_SHARD_FAILED', causeCode: 'ENOSPC' });
    expect(f.appendErrors).toBe(3);
    expect(f.durableProbesRejected).toBe(3);
    expect(f.afterRecovery!.entries).toBeGreaterThan(0);
    expect(r.verification).toMatchObject({ ok: true, lost: 0, duplicates: 0, corrupt: 0 });
    expect(r.verification!.acknowledged).toBeGreaterThan(f.afterRecovery!.entries);
  });

  it('stops the load early, and still verifies, when the disk it was pointed at runs low', async () => {
    const sfs = mountSmallFs(16 * 1024 * 1024);
    if ('skipped' in sfs) throw new Error(`the low-space test needs to mount a small filesystem (run the suite as root): ${sfs.skipped}`);
    try {
      const r = await runStress({ durationMs: 60_000, rate: 20_000, producers: 1, shards: 1, seed: 33, dir: sfs.dir });
      expect(r.failures).toEqual([]);
      expect(r.notes.join('\n')).toMatch(/stopping the load early: only \d+ bytes left free/);
      expect(r.throughput.seconds).toBeLessThan(30);
      expect(r.verification).toMatchObject({ ok: true, lost: 0 });
    } finally {
      sfs.release();
    }
  });
});
