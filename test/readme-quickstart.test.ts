/** The README's quick-start example runs exactly as written (in a fresh directory) and prints what it says. */
import { describe, expect, it } from 'vitest';
import { readme, runModule } from './helpers.js';

describe('README quick start', () => {
  it('runs as written', async () => {
    const doc = readme();
    const at = doc.indexOf('<!-- section: quick-start -->');
    expect(at).toBeGreaterThanOrEqual(0);
    const m = /^```js\n([\s\S]*?)^```$/m.exec(doc.slice(at));
    expect(m).not.toBeNull();
    const code = m![1];
    const r = await runModule(code);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const promised = [...code.matchAll(/\/\/ prints: (.+)$/gm)].map((x) => x[1]);
    expect(promised.length).toBeGreaterThan(0);
    for (const p of promised) expect(r.stdout).toContain(p);
    expect(r.stdout).toMatch(/fsyncs/); // the stats() object was printed
  });
});
