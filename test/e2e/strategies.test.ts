// The deploy strategies (README, "Strategies"), checked on one local cluster with real Serf,
// Redis, HAProxy, Docker and the registry: 6 production hosts, which deploy rolling or as a
// canary, and 4 staging hosts, which run the sample app in two colours (blue/green). Each part
// lives in test/e2e/strategies/. GV_STRATEGIES_CLUSTER and GV_STRATEGIES_SUBNET let two runs
// on one machine use their own cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { blueGreenChecks } from './strategies/blue-green.js';
import { canaryChecks } from './strategies/canary.js';
import { quarantineChecks } from './strategies/quarantine.js';
import { colourChecks } from './strategies/colours.js';
import { lbChecks } from './strategies/lb.js';
import { freezeChecks } from './strategies/freeze.js';

const name = process.env.GV_STRATEGIES_CLUSTER ?? 'gvstr';
const subnet = process.env.GV_STRATEGIES_SUBNET ?? '10.230.0';

let fleet: TestCluster | undefined;
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the strategies cluster did not come up');
  return fleet;
};

beforeAll(async () => {
  fleet = await startCluster({
    name,
    subnet,
    production: 6,
    staging: 4,
    promote: false,
    blueGreenEnvs: ['staging'],
    // The quarantine part marks a release broken and waits for the coordinator's own rollback.
    quarantineGraceMs: 5_000,
    strategies: {
      strategy: 'rolling',
      canary: {
        hosts: 2,
        steps: [
          { percent: 25, windowMs: 8_000 },
          { percent: 50, windowMs: 8_000 },
        ],
        subWindowMs: 1_000,
      },
      blueGreen: { steps: [100], keepOldMs: 20_000 },
    },
  });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

// Parts, each a describe over the one cluster:
describe('the cluster', () => {
  it('lists every host alive in Serf', async () => {
    const { stdout, exitCode } = await cluster().cli(['members', '--json']);
    expect(exitCode).toBe(0);
    expect((JSON.parse(stdout) as unknown[]).length).toBe(10);
  });
});
describe('load balancer weights and traffic', () => lbChecks(cluster));
describe('two colours per host', () => colourChecks(cluster));
describe('freeze', () => freezeChecks(cluster));
describe('canary', () => canaryChecks(cluster));
describe('blue/green under load', () => blueGreenChecks(cluster));
describe('quarantine', () => quarantineChecks(cluster));
