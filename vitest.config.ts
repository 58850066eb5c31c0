import { defineConfig } from 'vitest/config';

// Integration and e2e tests start real Redis, Serf, HAProxy and Docker containers;
// they run one file at a time so they never fight over the machine's two cores. The
// integration project's Redis, HAProxy and registry are docker-compose.test.yml, brought up
// once per run by its global setup; unit tests need no Docker. The fuzz tests (test/fuzz/) run
// with the integration tests: the coordinator's fuzz uses that Redis, the event batch a real Serf.
export default defineConfig({
  test: {
    fileParallelism: false,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/fuzz/**/*.test.ts'],
          globalSetup: ['test/setup/test-infra.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 600_000 } },
      // Faults put into local clusters through `grapevine dev chaos`; `npm run faults` runs them alone.
      // Its global setup collects every case's row and prints one table when the run ends.
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/setup/faults-table.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
