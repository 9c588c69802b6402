/** The human-readable summary of a StressReport (the --json form is the report itself). */
import { describeError } from './collector.js';
import { fmtBytes } from './progress.js';
import type { StressReport } from './report-types.js';

const n = (x: number) => x.toLocaleString('en-US');

export function formatReport(r: StressReport): string {
  const L: string[] = [];
  const verdict = r.skipped ? 'SKIPPED' : r.ok ? 'PASS' : 'FAIL';
  L.push(`shardlog stress: ${verdict}  (mode ${r.mode}, seed ${r.seed})`);
  if (r.skipped) {
    L.push(`  ${r.skipped}`);
    return L.join('\n');
  }
  const c = r.config;
  L.push(
    `  load        ${c.producers + 1} producers (main thread + ${c.producers} threads) -> ${c.shards} shards; ${c.size} ${c.kind} entries (largest allowed ${n(c.maxEntryBytes)}); sync ${c.sync}; rate ${c.rate}; api ${c.api}`,
  );
  // In kill mode these come from what the writer child reported before the SIGKILL: its last stats
  // sample and its last latency histograms. Without any, they were not measured: no zeros.
  const killed = r.mode === 'kill';
  const t = r.throughput;
  if (t.seconds > 0) {
    L.push(
      `  throughput  ${t.seconds.toFixed(2)} s, ${n(t.entries)} entries, ${fmtBytes(t.payloadBytes)}: ${n(t.entriesPerSec)} entries/s, ${t.mbPerSec} MB/s; ${n(t.fsyncs)} fsyncs, ${t.meanBatchEntries} entries/batch, ${n(t.ringFullWaits)} ring-full waits, ${t.segments} segments${killed ? ' (as last sampled before the kill)' : ''}`,
    );
  } else L.push(`  throughput  not measured: ${killed ? 'the writer child was killed before it sent a stats sample' : 'no stats sample arrived'}`);
  const l = r.latency;
  if (l.samples > 0) L.push(`  durable ack p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, p99.9 ${l.p999} ms, max ${l.max} ms (${n(l.samples)} acks${killed ? ' reported before the kill' : ''})`);
  else L.push(`  durable ack not measured: ${killed ? 'the writer child was killed before it sent a latency histogram' : 'no durable() call was seen to resolve'}`);
  const f = r.faults;
  for (const k of f?.kill ?? []) {
    const parts = [`cycle ${k.cycle}: ${k.killed ? `SIGKILL after ${k.killAfterMs} ms` : 'not killed'}, ${n(k.acknowledgedAtKill)} entries acknowledged before it`];
    if (k.tear) parts.push(k.tear.applied ? `tear ${k.tear.mode}: ${k.tear.kind} of ${n(k.tear.bytes ?? 0)} bytes at ${k.tear.offset} in shard ${k.tear.shard}` : `tear ${k.tear.mode}: not applied (${k.tear.note})`);
    if (k.openError) parts.push(`reopen: ${describeError(k.openError)}`);
    else if (k.recovery) {
      const cut = k.recovery.filter((x) => x.bytesCut > 0 || x.removedFiles > 0);
      parts.push(`recovery: ${cut.length ? cut.map((x) => `shard ${x.shard} cut ${n(x.bytesCut)} bytes (${x.cutReason ?? 'short segment removed'})`).join(', ') : 'nothing to cut'}`);
    }
    L.push(`  kill        ${parts.join('; ')}`);
  }
  if (f?.fullDisk) L.push(`  full disk   ${f.fullDisk.filesystem} of ${fmtBytes(f.fullDisk.bytes)}, filler ${fmtBytes(f.fullDisk.fillerBytes)}`);
  if (f?.writerExitAfterBatches !== undefined) L.push(`  writer exit every shard writer thread exits after ${f.writerExitAfterBatches} batches`);
  if (f?.failure || f?.appendErrors !== undefined) {
    L.push(`  failure     ${describeError(f.failure)}`);
    L.push(`              append() threw in ${f.appendErrors ?? 0} producers, durable() rejected in ${f.durableProbesRejected ?? 0}; close(): ${describeError(f.closeError)}`);
    if (f.recovery) {
      const cut = f.recovery.filter((x) => x.bytesCut > 0 || x.removedFiles > 0);
      L.push(`  recovery    ${cut.length ? cut.map((x) => `shard ${x.shard} cut ${n(x.bytesCut)} bytes (${x.cutReason ?? 'short segment removed'})`).join(', ') : 'nothing to cut'}; ${n(f.afterRecovery?.entries ?? 0)} entries appended after it`);
    }
  }
  const v = r.verification;
  if (v) {
    L.push(
      `  verified    ${n(v.entriesRead)} entries read (${fmtBytes(v.bytesRead)}), ${v.producers} producers: ${n(v.acknowledgedPresent)} of ${n(v.acknowledged)} acknowledged entries present, ${n(v.unacknowledgedPresent)} unacknowledged present; ` +
        `${v.lost} lost, ${v.duplicates} duplicated, ${v.outOfOrder} out of order, ${v.corrupt} corrupt, ${v.phantom} never appended, ${v.hashMismatches} hash mismatches, ${v.seqErrors} seq errors`,
    );
    for (const p of v.problems) L.push(`              ${p}`);
  }
  for (const x of r.notes) L.push(`  note        ${x}`);
  for (const x of r.failures) L.push(`  FAILURE     ${x}`);
  if (r.dir) L.push(`  log         ${r.dir}${r.kept ? ' (kept)' : ' (removed)'}`);
  L.push(`  replay      ${r.replay}`);
  return L.join('\n');
}
