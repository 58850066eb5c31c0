// Release strategies (README, "Red-white routing" and "Feature flags"), on one local cluster with
// real Serf, Redis, HAProxy, Docker and the registry: 2 production hosts, whose sample app reads
// a feature flag over OFREP, and 4 mobile hosts in two clusters routed by client version. Each
// part lives in test/e2e/release/. GV_RELEASE_CLUSTER and GV_RELEASE_SUBNET let two runs on one
// machine use their own cluster.
import { afterAll, beforeAll, describe } from 'vitest';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { flagChecks } from './release/flags.js';
import { redWhiteChecks } from './release/red-white.js';

const name = process.env.GV_RELEASE_CLUSTER ?? 'gvrel';
const subnet = process.env.GV_RELEASE_SUBNET ?? '10.243.0';

let fleet: TestCluster | undefined;
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the release cluster did not come up');
  return fleet;
};

beforeAll(async () => {
  fleet = await startCluster({ name, subnet, production: 2, redWhite: 4, promote: false });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('red-white routing of client versions to clusters', () => redWhiteChecks(cluster));
describe('feature flags over OFREP in the sample app', () => flagChecks(cluster));
