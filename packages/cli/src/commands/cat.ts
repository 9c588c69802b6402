/** `shardlog cat DIR`: print a framed log's entries in sequence order (with --skip-corrupt, past corrupt regions). */
import { readLog, type ReadOptions } from '@shardlog/core';
import { dirArg, parseOptions, intOption, KEY_FILE_HELP, keyFileOption, requireLog } from '../args.js';
import type { Command } from '../command.js';

export const catCommand: Command = {
  name: 'cat',
  usage: 'cat DIR [--from SEQ] [--json] [--skip-corrupt] [--key-file F]',
  summary: 'print every entry in sequence order',
  help: [
    'Usage: shardlog cat DIR [--from SEQ] [--json] [--skip-corrupt] [--key-file F]',
    '',
    'Print the entries of a framed log in global sequence order, one per line: a text entry as its',
    'text, a binary one as base64. That output is for reading; a text entry may hold a newline or',
    'look like base64, so a program that reads it back should use --json, which tells them apart.',
    '',
    'A corrupt record (a bad record with valid records after it, e.g. one a recovery with',
    '--skip-corrupt skipped) stops it with an error naming file and offset (exit 1), unless',
    '--skip-corrupt.',
    '',
    'Options:',
    '  --from SEQ   start at this sequence number',
    '  --json       one JSON object per entry: {"seq","shard","text"} or {"seq","shard","base64"}',
    '  --skip-corrupt  read past corrupt regions, as recovery does: print the valid entries after',
    '               them, and each region skipped on stderr (file, offset, bytes, why)',
    KEY_FILE_HELP,
    '  -h, --help   this help',
  ].join('\n'),
  async run(args) {
    const { values, positionals } = parseOptions({
      args,
      options: { from: { type: 'string' }, json: { type: 'boolean' }, 'skip-corrupt': { type: 'boolean' }, 'key-file': { type: 'string' } },
      allowPositionals: true,
    });
    const dir = dirArg(positionals);
    const fromSeq = intOption('--from', values.from, 0, 0);
    requireLog(dir);
    const encryption = keyFileOption(values['key-file']);
    const skip: Partial<ReadOptions> = values['skip-corrupt'] ? { skipCorrupt: true, onSkip: (r) => process.stderr.write(`shardlog cat: skipped ${r.bytes} corrupt bytes: ${r.file} at offset ${r.offset}: ${r.reason}\n`) } : {};
    for await (const e of readLog({ dir, fromSeq, encryption, ...skip })) {
      const line = values.json
        ? JSON.stringify(e.isText ? { seq: e.seq, shard: e.shard, text: e.text() } : { seq: e.seq, shard: e.shard, base64: Buffer.from(e.data).toString('base64') })
        : e.isText
          ? e.text()
          : Buffer.from(e.data).toString('base64');
      if (!process.stdout.write(line + '\n')) await new Promise((r) => process.stdout.once('drain', r));
    }
    return 0;
  },
};
