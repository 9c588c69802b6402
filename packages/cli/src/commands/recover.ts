/** `shardlog recover DIR`: open the log (which recovers it), print the recovery report, close. */
import { InvalidArgumentError, type ShardRecovery } from '@shardlog/workers';
import { openLog, rebuildManifest } from '@shardlog/core';
import { dirArg, parseOptions, requireLog, KEY_FILE_HELP, keyFileOption } from '../args.js';
import type { Command } from '../command.js';

export function describeRecovery(r: ShardRecovery, format: 'framed' | 'lines' = 'framed'): string[] {
  // lines carry no seqs: recovery counts them, and the seqs are the segment's name onwards
  const last = format === 'framed' ? `last seq ${r.lastSeq}` : r.tail && r.lines > 0 ? `seqs from ${r.tail.firstSeq} in the last segment` : 'no seqs on disk';
  const out = [`shard ${r.shard}: ${r.segments} segments, ${r.segmentsScanned} scanned, ${format === 'framed' ? `${r.records} records` : `${r.lines} lines`}, ${last}`];
  if (r.bytesCut > 0) out.push(`  cut ${r.bytesCut} bytes: ${r.cutFile} at offset ${r.cutOffset}: ${r.cutReason}`);
  if (r.skippedRegions > 0) out.push(`  skipped ${r.skippedRegions} corrupt regions, ${r.skippedBytes} bytes`);
  for (const f of r.removedFiles) out.push(`  removed ${f} (created, never written)`);
  return out;
}

export const recoverCommand: Command = {
  name: 'recover',
  usage: 'recover DIR [--skip-corrupt] [--verify-all] [--rebuild-manifest [--id UUID]] [--json] [--key-file F]',
  summary: 'run recovery (cut torn tails) and print what it did',
  help: [
    'Usage: shardlog recover DIR [--skip-corrupt] [--verify-all] [--rebuild-manifest [--id UUID]] [--json] [--key-file F]',
    '',
    'Open the log, which runs recovery exactly as openLog does (check every segment header, scan',
    "each shard's last segment, cut a torn tail), print the report and close. Takes the log's lock:",
    'it fails if another process has the log open.',
    '',
    "Corruption before the tail of a shard's last segment (a bad record with valid records after it)",
    'stops recovery with an error naming file and offset (exit 1), unless --skip-corrupt. Older',
    'segments are checked record by record only with --verify-all (or shardlog verify).',
    '',
    'Options:',
    '  --skip-corrupt  skip corrupt records (counted in the report) instead of refusing',
    "  --verify-all    also check every record of every other segment first (openLog's verify: 'all')",
    '  --rebuild-manifest  the manifest (shardlog.json) is missing or damaged: derive it from the',
    '                  segments first (format from their extensions, shard count from the shard',
    '                  directories; refused when that is ambiguous), then recover',
    "  --id UUID       with --rebuild-manifest: the log's id from its old manifest (kept when the",
    '                  damaged manifest still shows it; needed for an encrypted log, whose keys are',
    "                  bound to it, and keeps a shipper's dedup ids valid)",
    '  --json          print the report as JSON',
    KEY_FILE_HELP,
    '  -h, --help      this help',
  ].join('\n'),
  async run(args) {
    const { values, positionals } = parseOptions({
      args,
      options: { 'skip-corrupt': { type: 'boolean' }, 'verify-all': { type: 'boolean' }, 'rebuild-manifest': { type: 'boolean' }, id: { type: 'string' }, json: { type: 'boolean' }, 'key-file': { type: 'string' } },
      allowPositionals: true,
    });
    const dir = dirArg(positionals);
    if (values.id !== undefined && !values['rebuild-manifest']) throw new InvalidArgumentError('--id goes with --rebuild-manifest');
    const rebuilt = values['rebuild-manifest'] ? rebuildManifest(dir, { id: values.id }) : undefined;
    if (rebuilt) process.stderr.write(`rebuilt ${dir}/shardlog.json: ${rebuilt.format}, ${rebuilt.shards} shards, id ${rebuilt.id}\n`);
    const m = rebuilt ?? requireLog(dir);
    if (!m) throw new InvalidArgumentError(`${dir} has no manifest (shardlog.json): run shardlog recover --rebuild-manifest ${dir} to derive it from the segments`);
    const log = await openLog({ dir, format: m.format, skipCorrupt: values['skip-corrupt'] ?? false, verify: values['verify-all'] ? 'all' : 'tail', encryption: keyFileOption(values['key-file'], true) });
    const report = log.recovery;
    await log.close();
    if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else process.stdout.write(report.flatMap((r) => describeRecovery(r, m.format)).join('\n') + '\n');
    return 0;
  },
};
