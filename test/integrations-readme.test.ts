/**
 * The README's integration examples run exactly as written: every fenced block marked `js test`
 * in the integrations section is saved as an ES module in a fresh directory (where
 * '@shardlog/core', 'pino', 'prom-client' and './examples' resolve to this repository) and run
 * with node. It must exit 0, and print each `// prints: TEXT` its comments promise.
 */
import { describe, expect, it } from 'vitest';
import { readme, runModule } from './helpers.js';

function integrationExamples(): { title: string; code: string }[] {
  const doc = readme();
  const start = doc.indexOf('<!-- section: integrations -->');
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = doc.slice(start + 1);
  const end = rest.search(/^(## |<!-- section: )/m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const out: { title: string; code: string }[] = [];
  let heading = 'integrations';
  const re = /^### (.+)$|^```js test\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(section); m; m = re.exec(section)) {
    if (m[1]) heading = m[1];
    else out.push({ title: `${heading} (example ${out.length + 1})`, code: m[2] });
  }
  return out;
}

const examples = integrationExamples();

describe('README integration examples', () => {
  it('has one for each integration', () => {
    expect(examples.map((e) => e.title.replace(/ \(example \d+\)$/, ''))).toEqual([
      'pino destination',
      'Node streams',
      'Prometheus metrics',
      'An ingest service',
    ]);
  });

  for (const { title, code } of examples) {
    it(`runs: ${title}`, async () => {
      const r = await runModule(code);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const promised = [...code.matchAll(/\/\/ prints: (.+)$/gm)].map((m) => m[1]);
      expect(promised.length).toBeGreaterThan(0);
      for (const p of promised) expect(r.stdout).toContain(p);
    });
  }
});
