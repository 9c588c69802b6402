/**
 * A bundled app (esbuild, one file for the app and one for the writer thread, no node_modules
 * beside them): the writer's script is found through openLog's workerUrl option or thread-stream's
 * globalThis.__bundlerPathsOverrides['shardlog-shard-writer'], and without either the open fails
 * with a WriterStartError that says what to do.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tmpDir } from './helpers.js';

const APP = `
import { openLog, readLogSync } from '@shardlog/core';
const [dir, mode] = process.argv.slice(2);
const writer = new URL('./shard-writer.mjs', import.meta.url);
if (mode === 'override') globalThis.__bundlerPathsOverrides = { 'shardlog-shard-writer': writer.href };
const opts = { dir, shards: 2 };
if (mode === 'option') opts.workerUrl = writer.pathname;
try {
  const log = await openLog(opts);
  log.append('bundled 1');
  log.append('bundled 2');
  await log.close();
  console.log(JSON.stringify([...readLogSync({ dir })].map((e) => e.text())));
} catch (e) {
  console.log(e.code + ': ' + e.message);
}
`;

let out: string;

beforeAll(async () => {
  const src = tmpDir('shardlog-bundle-src-');
  fs.writeFileSync(path.join(src, 'app.mjs'), APP);
  out = tmpDir('shardlog-bundle-');
  const writer = createRequire(path.join(REPO_ROOT, 'packages/core/package.json')).resolve('@shardlog/workers/shard-writer');
  await esbuild.build({
    entryPoints: { app: path.join(src, 'app.mjs'), 'shard-writer': writer },
    bundle: true,
    platform: 'node',
    format: 'esm',
    outdir: out,
    outExtension: { '.js': '.mjs' },
    nodePaths: [path.join(REPO_ROOT, 'node_modules')],
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'silent',
  });
}, 60_000);

function run(mode: string): string {
  const dir = path.join(tmpDir(), 'log');
  const r = spawnSync(process.execPath, [path.join(out, 'app.mjs'), dir, mode], { cwd: out, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('an esbuild bundle', () => {
  it('has no node_modules to fall back on', () => {
    expect(fs.readdirSync(out).sort()).toEqual(['app.mjs', 'shard-writer.mjs']);
  });

  it('starts its writers from the workerUrl option', () => {
    expect(run('option')).toBe('["bundled 1","bundled 2"]');
  });

  it("starts its writers from globalThis.__bundlerPathsOverrides['shardlog-shard-writer']", () => {
    expect(run('override')).toBe('["bundled 1","bundled 2"]');
  });

  it('without either, the open fails with a WriterStartError', () => {
    expect(run('none')).toMatch(/^ERR_SHARDLOG_WRITER_START: .*could not start/);
  });
});
