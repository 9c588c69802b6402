/**
 * The benchmark harness's own checks: a tiny end-to-end run of shardlog and of sonic-boom, each in
 * its child process as `pnpm bench` runs them, must come back as complete result rows, verified;
 * and the verification must catch a missing or altered entry in the files they wrote.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectedFor } from '@shardlog/bench/internal/entries';
import { runInChild } from '@shardlog/bench/internal/runner';
import { aggregateE2E } from '@shardlog/bench/internal/stats';
import type { E2EResult, E2ESpec } from '@shardlog/bench/internal/types';
import { verifyLines, verifyShardlog } from '@shardlog/bench/internal/verify';
import { records, tmpDir } from './helpers.js';

const N = 3000;

function spec(over: Partial<E2ESpec> & Pick<E2ESpec, 'system' | 'id'>): E2ESpec {
  const dir = tmpDir('shardlog-bench-test-');
  return { kind: 'e2e', label: over.id, n: N, shape: 'ascii', dir: path.join(dir, 'run'), resultFile: path.join(dir, 'result.json'), ...over };
}

function expectComplete(r: E2EResult): void {
  expect(r.n).toBe(N);
  for (const k of ['entriesPerSec', 'mbPerSec', 'wallMs', 'appendMs', 'cpuNsPerEntry', 'peakRssMiB', 'fileBytes'] as const) {
    expect(Number.isFinite(r[k]) && r[k] > 0, `${k} = ${r[k]}`).toBe(true);
  }
  expect(r.gcs).toBeGreaterThanOrEqual(0);
  expect(r.heapBytesPerEntry).toBeGreaterThanOrEqual(0);
  expect(r.verification).toMatchObject({ ok: true, count: N, expectedCount: N, problem: '' });
  expect(r.verification.checksum).toBe(expectedFor('ascii', N).checksum);
}

/** Remove line `k` (0-based) of a file. */
function dropLine(file: string, k: number): void {
  const lines = fs.readFileSync(file, 'latin1').split('\n');
  lines.splice(k, 1);
  fs.writeFileSync(file, lines.join('\n'), 'latin1');
}

describe('bench harness', () => {
  it('runs sonic-boom end to end, verifies every line, and catches a missing or altered one', async () => {
    const s = spec({ system: 'sonic-boom', id: 'sonic-boom' });
    const r = await runInChild<E2EResult>(s, { keepFiles: true });
    expectComplete(r);
    expect(r.fileBytes).toBe(N * 101); // 100-byte entries plus '\n'

    const file = path.join(s.dir, 'run', 'out.log');
    const exp = expectedFor('ascii', N);
    expect(verifyLines([file], exp).ok).toBe(true);
    dropLine(file, 1234);
    const missing = verifyLines([file], exp);
    expect(missing.ok).toBe(false);
    expect(missing.count).toBe(N - 1);
    expect(missing.problem).toMatch(/2999 entries arrived, 3000 were written/);

    // one line dropped, another duplicated (the count is right again) and one byte flipped: only the checksum can tell
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, Buffer.concat([bytes, bytes.subarray(0, 101)]));
    const buf = fs.readFileSync(file);
    buf[5000] = buf[5000] === 0x41 ? 0x42 : 0x41;
    fs.writeFileSync(file, buf);
    const altered = verifyLines([file], exp);
    expect(altered.count).toBe(N);
    expect(altered.ok).toBe(false);
    expect(altered.problem).toMatch(/checksum/);

    // the aggregated row carries the failure
    const row = aggregateE2E('sonic-boom', 'sonic-boom', 'sonic-boom', [r, { ...r, verification: missing }], []);
    expect(row.verified).toBe(false);
    expect(row.problems).toEqual([missing.problem]);
  });

  it('runs shardlog end to end, verifies every record by seq and checksum, and catches a missing one', async () => {
    const s = spec({ system: 'shardlog', id: 'shardlog-1-none-ascii', shards: 1, sync: 'none' });
    const r = await runInChild<E2EResult>(s, { keepFiles: true });
    expectComplete(r);
    expect(r.extra).toMatchObject({ fsyncs: expect.any(Number), batches: expect.any(Number) });
    expect(r.fileBytes).toBe(80 + N * 120 + 32 * (r.extra as { batches: number }).batches); // segment header + 16-byte record headers, 8-aligned + a frame header per batch

    const row = aggregateE2E(s.id, s.label, 'shardlog', [r], []);
    expect(row).toMatchObject({ verified: true, runs: 1, n: N, problems: [] });
    expect(row.entriesPerSec).toBe(r.entriesPerSec);

    const log = path.join(s.dir, 'run');
    const exp = expectedFor('ascii', N);
    expect(verifyShardlog(log, exp).ok).toBe(true);
    // cut the last record: its frame is torn, and readers drop the torn frame whole
    const seg = path.join(log, '000', fs.readdirSync(path.join(log, '000')).find((f) => f.endsWith('.wal'))!);
    const recs = records(seg);
    const inLastFrame = recs.filter((x) => x.frameStart === recs.at(-1)!.frameStart).length;
    expect(inLastFrame).toBeGreaterThan(0);
    fs.truncateSync(seg, fs.statSync(seg).size - 120);
    const v = verifyShardlog(log, exp);
    expect(v.ok).toBe(false);
    expect(v.count).toBe(N - inLastFrame);
  });

  it('verification refuses a pino line of the wrong shape', () => {
    const dir = tmpDir('shardlog-bench-test-');
    const file = path.join(dir, 'pino.log');
    fs.writeFileSync(file, '{"level":30,"msg":"a"}\n{"level":40,"msg":"b"}\n');
    const v = verifyLines([file], { count: 2, checksum: 0, payloadBytes: 2 }, 'pino');
    expect(v.ok).toBe(false);
    expect(v.problem).toMatch(/line 2 .* not a pino line/);
  });
});
