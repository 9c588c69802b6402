/**
 * Full-disk mode: a small tmpfs / loop filesystem of the run's own, nearly filled by a filler file;
 * load until ENOSPC. The log must fail loudly (ShardFailedError, cause ENOSPC; durable() rejects),
 * then recover once the filler is deleted. Without the rights to mount, the run is reported skipped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectLoudFailure } from './loud-failure.js';
import { FULL_DISK_HEADROOM } from './options.js';
import type { StressRun } from './run-context.js';
import { runSession } from './session.js';
import { fillDisk, mountSmallFs } from './small-fs.js';

export async function runFullDisk(run: StressRun): Promise<void> {
  const { o, report, progress } = run;
  const sfs = mountSmallFs(o.diskBytes);
  if ('skipped' in sfs) {
    report.skipped = sfs.skipped;
    progress?.note(`full-disk: SKIPPED: ${sfs.skipped}`);
    return;
  }
  const dir = path.join(sfs.dir, 'log');
  report.dir = dir;
  try {
    const filler = path.join(sfs.dir, 'filler');
    const fillerBytes = fillDisk(filler, FULL_DISK_HEADROOM);
    report.faults = { fullDisk: { filesystem: sfs.kind, bytes: sfs.bytes, fillerBytes } };
    progress?.note(`full-disk: ${sfs.kind} of ${sfs.bytes} bytes, ${fillerBytes} of them taken by a filler file; loading until ENOSPC`);
    const ph = run.startPhase('until full', 0);
    await runSession(run.session(dir, 0, { durationMs: o.durationMs ?? 60_000, entries: undefined }), run.coll.on, run.stop);
    fs.rmSync(filler);
    progress?.note('full-disk: filler deleted, reopening');
    await expectLoudFailure(run, dir, ph, 'ENOSPC', (e) => e.causeCode === 'ENOSPC' || /ENOSPC/.test(e.message));
  } finally {
    sfs.release();
  }
}
