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
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
