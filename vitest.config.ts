import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 15_000,
    hookTimeout: 15_000,
    // Each file starts its own servers on port 0; two cores, so two files at a time.
    maxWorkers: 2,
  },
});
