/** Engine: a process that ends without close() neither hangs nor loses what it appended. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readLogSync } from '@shardlog/core';
import { fixture, logDir, runModule } from './helpers.js';

const CHILD = fixture('exit-without-close.mjs');

describe('exit without close()', () => {
  it('a script that awaits rotate() and ends runs to its end', () => {
    const dir = logDir();
    const r = spawnSync(process.execPath, [CHILD, dir, 'rotate'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    const got = [...readLogSync({ dir })];
    expect(got.length).toBe(20_001);
    expect(got.at(-1)!.text()).toBe('after rotate');
  });

  it('with a slow writer, process.exit() still waits for every entry; flushOnExit: false does not', () => {
    const run = (mode: string) => {
      const dir = logDir();
      const r = spawnSync(process.execPath, [CHILD, dir, 'exit', mode], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(0);
      return [...readLogSync({ dir })].length;
    };
    expect(run('slow')).toBe(20_000);
    expect(run('noflush')).toBeLessThan(20_000); // the drain is what kept them
  });

  for (const how of ['end', 'exit', 'throw']) {
    it(`${how}: the process ends by itself and every appended entry is in the files`, () => {
      const dir = logDir();
      const r = spawnSync(process.execPath, [CHILD, dir, how], { encoding: 'utf8', timeout: 30_000 });
      expect(r.signal).toBeNull(); // not killed by the timeout: it did not hang
      expect(r.status).toBe(how === 'throw' ? 1 : 0);
      const got = [...readLogSync({ dir })];
      expect(got.length).toBe(20_000);
      expect(got[19_999].text()).toBe('entry 19999');
    });
  }

  it('many logs open at once share one exit hook: no MaxListenersExceededWarning, each log drained at exit', async () => {
    const root = logDir('many');
    const r = await runModule(
      `import { openLog } from '@shardlog/core';
       process.on('warning', (w) => console.error('WARNING ' + w.name));
       const logs = [];
       for (let i = 0; i < 15; i++) logs.push(await openLog({ dir: process.env.ROOT + '/log' + i, shards: 1 }));
       for (const [i, l] of logs.entries()) for (let k = 0; k < 100; k++) l.append('log ' + i + ' entry ' + k);
       process.exit(0);`,
      { ROOT: root },
    );
    expect(r.stderr).not.toMatch(/WARNING/);
    expect(r.code).toBe(0);
    for (let i = 0; i < 15; i++) expect([...readLogSync({ dir: `${root}/log${i}` })].length).toBe(100);
  });
});
