// A bad release stops itself, an engineer can stop any rollout, staging guards production,
// every deploy ends, and the health gate holds a release to its deadline and its soak: on one
// local cluster of 6 production and 3 staging hosts (staging promoted to production) with real
// Serf, Redis, Docker and HAProxy. Each part lives in test/e2e/safety/, starts from what it
// deploys itself and leaves every host serving, so the parts run in any order.
// GV_SAFETY_CLUSTER and GV_SAFETY_SUBNET let two runs on one machine use their own cluster.
import { afterAll, beforeAll, describe } from 'vitest';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { DOCKER_CHECK, HEALTH_GATE, healthGateChecks } from './safety/health-gate.js';
import { stopChecks } from './safety/stops.js';

const name = process.env.GV_SAFETY_CLUSTER ?? 'gvtest-safe';
const subnet = process.env.GV_SAFETY_SUBNET ?? '10.216.0';

let fleet: TestCluster | undefined;
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the safety cluster did not come up');
  return fleet;
};

beforeAll(async () => {
  // No cluster-wide start delay: it would override the health gate's tags' own START_DELAY.
  // The gate's 3 s soak keeps each host's deploy in progress long enough to act on it mid-rollout.
  fleet = await startCluster({ name, subnet, production: 6, staging: 3, promote: true, health: HEALTH_GATE, healthCheck: DOCKER_CHECK });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('a bad release stops itself and every deploy ends', () => stopChecks(cluster));
describe('health gate on six hosts', () => healthGateChecks(cluster));
