/**
 * Support for the integration tests: run a script as its own process from a fresh temp directory
 * in which `import '@shardlog/core'`, 'pino', 'prom-client' and './examples/...' resolve to this
 * repository (a node_modules and an examples symlink), the way they would in a user's project.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, tmpDir } from './helpers.js';

export interface ChildResult {
  cwd: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A fresh working directory that sees the repository's packages and examples. */
export function projectDir(): string {
  const dir = tmpDir('shardlog-project-');
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  fs.symlinkSync(path.join(REPO_ROOT, 'examples'), path.join(dir, 'examples'), 'dir');
  return dir;
}

/** Write `source` as an ES module in a fresh project directory and run it with node. */
export async function runModule(source: string, env: Record<string, string> = {}, cwd = projectDir()): Promise<ChildResult> {
  const file = path.join(cwd, `script-${process.hrtime.bigint()}.mjs`);
  fs.writeFileSync(file, source);
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { cwd, code, signal, stdout, stderr };
}
