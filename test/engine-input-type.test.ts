/**
 * Engine: a script run as `node --input-type=module -e ...` (or fed on stdin) can open logs. Worker
 * threads inherit the process's options, and `new Worker()` of a file refuses --input-type; every
 * thread shardlog starts (shard writers, verify: 'all' on piscina, the log manager's pool) then
 * gets none, and otherwise inherits them as before (a bench child runs with --expose-gc).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { workerExecArgv } from '@shardlog/workers';
import { logDir } from './helpers.js';

/** The package's ES module entry (require.resolve would give its CommonJS one). */
const core = pathToFileURL(path.join(path.dirname(createRequire(import.meta.url).resolve('@shardlog/core/package.json')), 'dist/index.js')).href;

const script = (dir: string) => `
import { openLog, openLogManager, readLogSync } from ${JSON.stringify(core)};
const dir = ${JSON.stringify(dir)};
let log = await openLog({ dir: dir + '/a', shards: 2 });
await log.durable(log.append('one'));
await log.close();
log = await openLog({ dir: dir + '/a', verify: 'all' });
log.append('two');
await log.close();
const m = await openLogManager({ root: dir + '/m', writers: 1 });
const t = await m.log('t');
await t.durable(t.append('three'));
await m.close();
console.log(JSON.stringify([...readLogSync({ dir: dir + '/a' }), ...readLogSync({ dir: dir + '/m/t' })].map((e) => e.text())));
`;

describe('--input-type', () => {
  it('opens, verifies and manages logs from `node --input-type=module -e`', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(logDir())], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['one', 'two', 'three']);
  });

  it('... and from a module fed on stdin (--input-type module, two words)', () => {
    const r = spawnSync(process.execPath, ['--input-type', 'module'], { input: script(logDir()), encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['one', 'two', 'three']);
  });

  it('threads inherit the process options unless --input-type is among them (then none: Node refuses some in a list)', () => {
    expect(workerExecArgv(['--expose-gc', '--max-old-space-size=100'])).toBeUndefined();
    expect(workerExecArgv([])).toBeUndefined();
    expect(workerExecArgv(['--input-type=module', '-e', 'x', '--expose-gc'])).toEqual([]);
    expect(workerExecArgv(['--input-type', 'commonjs'])).toEqual([]);
  });

  it('with --input-type and a per-process option (--expose-gc) besides', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script(logDir())], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['one', 'two', 'three']);
  });
});
