import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/setup/longest-first.js';

// Integration and e2e tests start real Redis, Serf, HAProxy and Docker containers. Unit tests
// need neither, and most of their time is loading modules: they run first (group 0), a file per
// core. The integration project (group 1) runs one file at a time: its files share the Redis,
// HAProxy and registry of docker-compose.test.yml, brought up once per run by its global setup.
// The e2e and faults files (group 2) each bring up a cluster of their own (own name, subnet and
// ports: dev-cluster/free-port.ts gives each worker its own band) and spend most of their time
// waiting on start delays, soaks and health deadlines; they run the longest first
// (test/setup/longest-first.ts), CLUSTERS_AT_ONCE at a time. The fuzz tests (test/fuzz/) run with the integration
// tests: the coordinator's fuzz uses that Redis, the event batch a real Serf.
/**
 * e2e and faults files at once: two side by side cut the run by about ten minutes. (The blue/green
 * case that once failed so had found a real fault: hosts caught the live colour up to the release
 * switched away from, sooner on a slower machine. Fixed in coordinator/catch-up.ts.)
 */
const CLUSTERS_AT_ONCE = 2;

export default defineConfig({
  test: {
    fileParallelism: false,
    sequence: { sequencer: LongestFirst },
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
      {
        test: {
          name: 'e2e',
          sequence: { groupOrder: 2 },
          include: ['test/e2e/**/*.test.ts'],
          fileParallelism: true,
          maxWorkers: CLUSTERS_AT_ONCE,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      // Faults put into local clusters through `grapevine dev chaos`; `npm run faults` runs them alone.
      // Its global setup collects every case's row and prints one table when the run ends.
      {
        test: {
          name: 'faults',
          sequence: { groupOrder: 2 },
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/setup/faults-table.ts'],
          fileParallelism: true,
          maxWorkers: CLUSTERS_AT_ONCE,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
