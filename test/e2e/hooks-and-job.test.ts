// A role's hooks and its once-per-deploy job on one local cluster of 6 production hosts (k = 2)
// with real Serf, Redis, Docker and HAProxy: every deploy runs both, as a role with both does.
// Each part lives in test/e2e/hooks-and-job/ and leaves every host serving, so the parts run in any order.
// GV_HOOKS_JOB_CLUSTER and GV_HOOKS_JOB_SUBNET let two runs on one machine use their own cluster.
import { afterAll, beforeAll, describe } from 'vitest';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { hookChecks, writeHookScript, type HookScript } from './hooks-and-job/hooks.js';
import { JOB_SECONDS, jobChecks } from './hooks-and-job/job.js';

const name = process.env.GV_HOOKS_JOB_CLUSTER ?? 'gvtest-hooks';
const subnet = process.env.GV_HOOKS_JOB_SUBNET ?? '10.225.0';

let fleet: TestCluster | undefined;
// Written before the cluster: the role's hooks name it.
let written: HookScript | undefined;
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the hooks and job cluster did not come up');
  return fleet;
};
const hookScript = (): HookScript => {
  if (!written) throw new Error('the hook script was not written');
  return written;
};

beforeAll(async () => {
  written = writeHookScript();
  fleet = await startCluster({ name, subnet, production: 6, hooks: written.hooks, job: { seconds: JOB_SECONDS } });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
  written?.remove();
});

describe('hooks run on every host around its deploy', () => hookChecks(cluster, hookScript));
describe('the once-per-deploy job', () => jobChecks(cluster));
