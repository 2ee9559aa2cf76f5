import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (main) and ESM (module) copies. Dependencies loaded by Node
    // (Pothos, Yoga) get the CJS one; without this, test files would get the ESM one and
    // graphql's instanceof checks would fail across the two "realms".
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ when it is older than src/: spawned gateways run it (see the file).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 45_000,
    hookTimeout: 60_000,
    // Each file starts its own servers on port 0; two cores, so two files at a time.
    maxWorkers: 2,
  },
});
