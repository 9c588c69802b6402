/** `shardlog rekey DIR --key-file F [--key-id ID]`: rewrite a closed encrypted log's older segments under a new key. */
import { rekeyLog } from '@shardlog/core';
import { InvalidArgumentError } from '@shardlog/workers';
import { dirArg, parseOptions, keyFileOption, requireLog } from '../args.js';
import type { Command } from '../command.js';

export const rekeyCommand: Command = {
  name: 'rekey',
  usage: 'rekey DIR --key-file F [--key-id ID] [--encrypt-plain] [--json]',
  summary: 'rewrite encrypted segments under a new key (the log must be closed)',
  help: [
    'Usage: shardlog rekey DIR --key-file F [--key-id ID] [--encrypt-plain] [--json]',
    '',
    'Rewrite every segment sealed under another key than ID with the key ID, one segment at a time:',
    'the new file is written beside the old one, synced, read back, renamed over it, and the directory',
    "synced, so a crash at any point leaves each segment readable with its old or its new key. Takes",
    "the log's lock: it fails if the log is open. A last segment with a torn tail is left alone (run",
    'shardlog recover first). Segments that are not encrypted (written before the log had encryption)',
    'are left as they are and counted, unless --encrypt-plain.',
    '',
    'Options:',
    '  --key-file F   JSON { "keys": { "<id>": "<base64 or hex>" }, "keyId": "<id>" } holding the old',
    '                 keys and the new one (default: $SHARDLOG_KEY_FILE)',
    '  --key-id ID    the new key (default: the key file\'s "keyId")',
    '  --encrypt-plain  encrypt the plaintext segments too (the same crash-safe way)',
    '  --json         print the result as JSON',
    '  -h, --help     this help',
  ].join('\n'),
  async run(args) {
    const { values, positionals } = parseOptions({ args, options: { 'key-file': { type: 'string' }, 'key-id': { type: 'string' }, 'encrypt-plain': { type: 'boolean' }, json: { type: 'boolean' } }, allowPositionals: true });
    const dir = dirArg(positionals);
    requireLog(dir);
    const enc = keyFileOption(values['key-file']);
    if (!enc) throw new InvalidArgumentError('rekey needs --key-file F (or SHARDLOG_KEY_FILE)');
    const keyId = values['key-id'] ?? enc.keyId;
    if (keyId === undefined) throw new InvalidArgumentError('rekey needs the new key id: --key-id ID, or "keyId" in the key file');
    const res = await rekeyLog({ dir, keys: enc.keys, keyId, encryptPlain: values['encrypt-plain'] === true });
    for (const k of Object.values(enc.keys)) k.fill(0);
    if (values.json) process.stdout.write(JSON.stringify(res) + '\n');
    else {
      process.stdout.write(`rewrote ${res.rewritten.length} segments under key ${keyId}; ${res.unchanged} unchanged\n`);
      if (res.plain > 0) process.stdout.write(`${res.plain} segments are not encrypted (they hold plaintext): --encrypt-plain encrypts them\n`);
      for (const f of res.skipped) process.stdout.write(`skipped (torn tail: run shardlog recover, then rekey again): ${f}\n`);
    }
    return 0;
  },
};
