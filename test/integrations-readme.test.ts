/**
 * The README's integration examples run exactly as written: every fenced block marked `js test`
 * in the integrations section is saved as an ES module in a fresh directory (where
 * '@shardlog/core', 'pino', 'prom-client' and './examples' resolve to this repository) and run
 * with node. It must exit 0, and print each `// prints: TEXT` its comments promise.
 */
import { describe, expect, it } from 'vitest';
import { projectDir, readme, runModule } from './helpers.js';

/** The quick start's block. */
function quickStart(): string {
  const doc = readme();
  const m = /^```js\n([\s\S]*?)^```$/m.exec(doc.slice(doc.indexOf('<!-- section: quick-start -->')));
  expect(m).not.toBeNull();
  return m![1];
}

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
      'pino transport',
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

  it('runs in order in one directory after the quick start, as a reader following along would', async () => {
    const cwd = projectDir();
    for (const { title, code } of [{ title: 'quick start', code: quickStart() }, ...examples]) {
      const r = await runModule(code, {}, cwd);
      expect(r.stderr, title).toBe('');
      expect(r.code, title).toBe(0);
    }
  }, 60_000);
});
