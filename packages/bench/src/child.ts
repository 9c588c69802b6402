/**
 * Child-process entry point: `node --expose-gc child.js '<spec JSON>'` runs one case and writes
 * its result as JSON to spec.resultFile. Every measured run gets a fresh process, so no run
 * inherits another's heap, JIT state, threads or peak RSS.
 */
import * as fs from 'node:fs';
import { runAlloc } from './cases/alloc.js';
import { runDurable } from './cases/durable.js';
import { runE2E } from './cases/e2e.js';
import { runMicro } from './cases/micro.js';
import { usageExit } from './tool-args.js';
import type { Result, Spec } from './types.js';

export async function runSpec(spec: Spec): Promise<Result> {
  switch (spec.kind) {
    case 'e2e':
      return runE2E(spec);
    case 'durable':
      return runDurable(spec);
    case 'alloc':
      return runAlloc(spec);
    case 'micro':
      return runMicro(spec);
  }
}

const USAGE = 'Usage: node packages/bench/dist/child.js <spec JSON>   (started by the bench harness, one run per process)\n';
const arg = process.argv[2];
if (arg === '--help' || arg === '-h') {
  process.stdout.write(USAGE);
  process.exit(0);
}
let spec: Spec;
try {
  spec = JSON.parse(arg ?? '') as Spec;
  if (!spec || typeof spec !== 'object' || typeof spec.resultFile !== 'string') throw new Error('not a run spec');
} catch {
  usageExit(USAGE, arg === undefined ? 'missing the spec JSON' : `not a run spec (JSON with kind and resultFile): ${arg.slice(0, 60)}`);
}
// pino.transport's and thread-stream's workers are unref'd: keep the event loop alive while we await them
const keepAlive = setInterval(() => {}, 60_000);
const result = await runSpec(spec);
fs.writeFileSync(spec.resultFile, JSON.stringify(result));
clearInterval(keepAlive);
// Stray handles (a transport's worker, a timer) must not keep a finished run alive.
process.exit(0);
