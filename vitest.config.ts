import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Integration and e2e tests start real Redis, Serf, HAProxy and Docker containers;
// they run one file at a time so they never fight over the machine's two cores. Unit tests
// need neither, and most of their time is loading modules: they run first (group 0), a file per
// core, then the other projects (group 1) one file at a time. The
// integration project's Redis, HAProxy and registry are docker-compose.test.yml, brought up
// once per run by its global setup; unit tests need no Docker. The fuzz tests (test/fuzz/) run
// with the integration tests: the coordinator's fuzz uses that Redis, the event batch a real Serf.
export default defineConfig({
  test: {
    fileParallelism: false,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], fileParallelism: true, maxWorkers: availableParallelism() } },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts', 'test/fuzz/**/*.test.ts'],
          globalSetup: ['test/setup/test-infra.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      { test: { name: 'e2e', sequence: { groupOrder: 1 }, include: ['test/e2e/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 600_000 } },
      // Faults put into local clusters through `grapevine dev chaos`; `npm run faults` runs them alone.
      // Its global setup collects every case's row and prints one table when the run ends.
      {
        test: {
          name: 'faults',
          sequence: { groupOrder: 1 },
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/setup/faults-table.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
