// A bad release stops itself, an engineer can stop any rollout, staging guards production,
// every deploy ends, and the health gate holds a release to its deadline and its soak: on one
// local cluster of 6 production and 3 staging hosts (staging promoted to production) with real
// Serf, Redis, Docker and HAProxy. Each part lives in test/e2e/safety/ and starts by deploying
// what it needs, so the parts run in any order. The gate's 3 s soak keeps each host's deploy in
// progress long enough to act on it mid-rollout.
// GV_SAFETY_CLUSTER and GV_SAFETY_SUBNET let two runs on one machine use their own cluster.
import { afterAll, beforeAll, describe } from 'vitest';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { HEALTH_GATE, healthGateChecks } from './safety/health-gate.js';
import { stopChecks } from './safety/stops.js';

const name = process.env.GV_SAFETY_CLUSTER ?? 'gvtest-safe';
const subnet = process.env.GV_SAFETY_SUBNET ?? '10.216.0';

let fleet: TestCluster | undefined;
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the safety cluster did not come up');
  return fleet;
};

beforeAll(async () => {
  fleet = await startCluster({ name, subnet, production: 6, staging: 3, promote: true, health: HEALTH_GATE });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('a bad release stops itself and every deploy ends', () => stopChecks(cluster));
describe('health gate on six hosts', () => healthGateChecks(cluster));
