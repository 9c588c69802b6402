import { defineConfig } from 'vitest/config';

// Tests run against the built packages (dist/), because the shard writers are real worker threads
// loading real files: `pnpm test` builds first.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Under CI a JSON report is written too; .ci/run turns it into one plain 'N passed, N failed' line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.tmp/vitest-results.json' }]] : ['default'],
  },
});
