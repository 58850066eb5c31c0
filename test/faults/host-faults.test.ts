// Faults of one host under a rollout, each part in test/faults/host-faults/, on one local
// cluster of 6 production hosts (k = 2) with real Serf, Redis, Docker and HAProxy and a slow
// start (1.5 s) that keeps each host's deploy in progress long enough to put a fault into it.
// Every part starts from a settled group and rolls out the release the hosts do not run
// (host-faults/settled-group.ts), and leaves every host in service, so the parts run in any
// order; one cluster for all saves a bring-up, a first rollout and a teardown per part.
// GV_HOST_FAULTS_CLUSTER and GV_HOST_FAULTS_SUBNET let two runs on one machine use their own cluster.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { catchUpChecks } from './host-faults/catch-up.js';
import { churnChecks } from './host-faults/churn.js';
import { partitionChecks } from './host-faults/partition.js';
import { reconcileChecks } from './host-faults/reconcile.js';
import { slotHolderChecks } from './host-faults/slot-holder.js';

const name = process.env.GV_HOST_FAULTS_CLUSTER ?? 'gvtest-hosts';
const subnet = process.env.GV_HOST_FAULTS_SUBNET ?? '10.219.0';

let fleet: TestCluster | undefined;
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the host-faults cluster did not come up');
  return fleet;
};

beforeAll(async () => {
  fleet = await startCluster({ name, subnet, production: 6, startDelay: 1.5 });
  const v1 = await fleet.deploy('web', 'production', 'v1');
  expect(v1.deploy.status, v1.stderr).toBe('succeeded');
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('a slot holder killed mid-deploy', () => slotHolderChecks(cluster));
describe('a slot holder cut off from everything mid-deploy', () => partitionChecks(cluster));
describe('Serf membership churning under a rollout', () => churnChecks(cluster));
describe('a host that missed a rollout catches up', () => catchUpChecks(cluster));
describe('every host converges', () => reconcileChecks(cluster));
