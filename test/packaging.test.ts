/**
 * The published packages as a user gets them: @shardlog/workers and @shardlog/core packed with
 * `pnpm pack` (workspace:* turned into versions, README and LICENSE inside) and installed with npm
 * into a fresh project outside the workspace. There: an ES module imports and appends, require()
 * loads the same API (or, on a Node.js that cannot require ES modules, fails with the documented
 * ERR_SHARDLOG_REQUIRE_ESM), a strict tsc without skipLibCheck accepts a file using the API, and
 * an esbuild bundle of a small app runs with its writer script beside it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tmpDir } from './helpers.js';

let project: string;
const tarballs: Record<string, string> = {};

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

beforeAll(() => {
  const packs = tmpDir('shardlog-packs-');
  for (const pkg of ['workers', 'core']) {
    sh('npx', ['-y', 'pnpm@10.34.8', 'pack', '--pack-destination', packs], path.join(REPO_ROOT, 'packages', pkg));
    tarballs[pkg] = path.join(packs, `shardlog-${pkg}-0.1.0.tgz`);
  }
  project = tmpDir('shardlog-consumer-');
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarballs.workers, tarballs.core], project);
}, 150_000);

function node(file: string, source: string, args: string[] = []): { status: number | null; stdout: string; stderr: string } {
  fs.writeFileSync(path.join(project, file), source);
  return spawnSync(process.execPath, [file, ...args], { cwd: project, encoding: 'utf8', timeout: 30_000 });
}

describe('the packed packages', () => {
  it('hold README and LICENSE, and core depends on a real version of workers', () => {
    for (const pkg of ['workers', 'core']) {
      const list = sh('tar', ['tzf', tarballs[pkg]], project).split('\n');
      expect(list).toEqual(expect.arrayContaining(['package/README.md', 'package/LICENSE', 'package/package.json']));
    }
    const installed = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/@shardlog/core/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(installed.dependencies['@shardlog/workers']).toBe('0.1.0');
  });

  it('import works and appends', () => {
    const r = node('esm.mjs', `
import { openLog, readLogSync } from '@shardlog/core';
const log = await openLog({ dir: 'data/esm', shards: 1 });
log.append('from esm');
await log.close();
console.log([...readLogSync({ dir: 'data/esm' })].map((e) => e.text()).join());
`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('from esm');
  });

  it('require() works where Node.js can require ES modules, and says what to do where it cannot', () => {
    const r = node('cjs.cjs', `
let core;
try { core = require('@shardlog/core'); } catch (e) { console.log(e.code); process.exit(0); }
const log = core.openLogSync({ dir: 'data/cjs', shards: 1 });
log.append('from cjs');
log.close().then(() => console.log([...core.readLogSync({ dir: 'data/cjs' })].map((e) => e.text()).join()));
`);
    expect(r.status, r.stderr).toBe(0);
    const canRequireEsm = (process.features as { require_module?: boolean }).require_module === true;
    expect(r.stdout.trim()).toBe(canRequireEsm ? 'from cjs' : 'ERR_SHARDLOG_REQUIRE_ESM');
  });

  it('a strict tsc without skipLibCheck accepts a file using the API', () => {
    fs.writeFileSync(
      path.join(project, 'app.ts'),
      `import { openLog, openLogSync, shardlogDestination, type Log, type OpenOptions, ShardlogError } from '@shardlog/core';
const options: OpenOptions = { dir: 'data/ts', shards: 1, format: 'lines', workerUrl: new URL('file:///x.js') };
export async function main(): Promise<number> {
  const log: Log = await openLog(options);
  const seq: number = log.append('typed');
  await log.durable(seq);
  await log.close();
  const dest = shardlogDestination({ dir: 'data/ts-pino', sync: true });
  dest.write('{"msg":"x"}\\n');
  void openLogSync;
  const err: unknown = new Error('x');
  return err instanceof ShardlogError ? 0 : seq;
}
`,
    );
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', skipLibCheck: false, types: ['node'], typeRoots: [path.join(REPO_ROOT, 'node_modules/@types')] },
        files: ['app.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 60_000);

  it('an esbuild bundle of a small app runs, its writer script beside it', async () => {
    fs.writeFileSync(
      path.join(project, 'bundled.mjs'),
      `import { openLog, readLogSync } from '@shardlog/core';
globalThis.__bundlerPathsOverrides = { 'shardlog-shard-writer': new URL('./shard-writer.mjs', import.meta.url).href };
const log = await openLog({ dir: process.argv[2], shards: 2 });
log.appendMany(['b1', 'b2', 'b3']);
await log.close();
console.log([...readLogSync({ dir: process.argv[2] })].map((e) => e.text()).join());
`,
    );
    const out = path.join(project, 'out');
    await esbuild.build({
      absWorkingDir: project,
      entryPoints: { app: 'bundled.mjs', 'shard-writer': '@shardlog/workers/shard-writer' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      outdir: out,
      outExtension: { '.js': '.mjs' },
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    const elsewhere = tmpDir('shardlog-bundle-run-');
    for (const f of fs.readdirSync(out)) fs.copyFileSync(path.join(out, f), path.join(elsewhere, f));
    const r = spawnSync(process.execPath, [path.join(elsewhere, 'app.mjs'), path.join(elsewhere, 'log')], { cwd: elsewhere, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('b1,b2,b3');
  }, 60_000);
});
