// A release reaches every matching host by gossip, a third at a time, on a local
// cluster of hosts with their own addresses, real Serf, Redis, Docker and HAProxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { redisKeys } from '../../shared/redis-keys.js';
import type { Deploy } from '../../shared/schemas.js';
import { maxConcurrentDeploying, startCluster, type TestCluster } from '../fixtures/cluster.js';

const answersFrom = (tag: string, hosts: string[]) => new Set(hosts.map((h) => `200 ${tag} ${h}`));
const PRODUCTION = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
const STAGING = ['s1', 's2', 's3'];

async function remainingCounter(cluster: TestCluster, deploy: Deploy): Promise<string | null> {
  const redis = new Redis(cluster.cluster.state.redisUrl);
  try {
    return await redis.get(redisKeys.remaining(deploy.role, deploy.env, deploy.id));
  } finally {
    redis.disconnect();
  }
}

function expectCompleteRollout(deploy: Deploy, hosts: string[], slots: number): void {
  expect(deploy.status).toBe('succeeded');
  expect(Object.keys(deploy.hosts).sort()).toEqual(hosts);
  expect(Object.values(deploy.hosts).map((h) => h.state)).toEqual(hosts.map(() => 'succeeded'));
  expect(deploy.expectedHosts).toBe(hosts.length);
  for (const host of Object.values(deploy.hosts)) {
    expect(host.steps.map((s) => s.step)).toEqual(['received', ...(host.steps.some((s) => s.step === 'waiting') ? ['waiting'] : []), 'slot', 'drain', 'pull', 'up', 'health', 'register', 'release']);
  }
  const concurrent = maxConcurrentDeploying(deploy);
  expect(concurrent).toBeGreaterThanOrEqual(1);
  expect(concurrent).toBeLessThanOrEqual(slots);
}

describe('six production hosts and three staging hosts', () => {
  let fleet: TestCluster;

  beforeAll(async () => {
    fleet = await startCluster({ name: 'gvtest-e2e', subnet: '10.214.0', production: 6, staging: 3 });
  });
  afterAll(async () => {
    await fleet?.[Symbol.asyncDispose]();
  });

  it('deploys v1 and then v2 to every production host, at most two at a time', async () => {
    const first = await fleet.deploy('web', 'production', 'v1');
    expect(first.exitCode, first.stderr).toBe(0);
    expectCompleteRollout(first.deploy, PRODUCTION, 2);
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v1', PRODUCTION));

    const second = await fleet.deploy('web', 'production', 'v2');
    expect(second.exitCode, second.stderr).toBe(0);
    expectCompleteRollout(second.deploy, PRODUCTION, 2);
    expect(await remainingCounter(fleet, second.deploy)).toBe('0');
    // Every request through HAProxy now answers v2, and every host answers.
    expect(await fleet.lbAnswers(24)).toEqual(answersFrom('v2', PRODUCTION));

    // What an operator sees afterwards through the CLI.
    const status = await fleet.cli(['status', second.deploy.id, '--json']);
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: second.deploy.id, status: 'succeeded', tag: 'v2', env: 'production' });
    const text = await fleet.cli(['status', second.deploy.id]);
    expect(text.stdout).toContain(`deploy ${second.deploy.id} of web:v2 to production succeeded`);
  });

  it('changes only the targeted environment', async () => {
    const staging = await fleet.deploy('web', 'staging', 'v1');
    expect(staging.exitCode, staging.stderr).toBe(0);
    expectCompleteRollout(staging.deploy, STAGING, 1);
    expect(await fleet.lbAnswers(9, 'staging')).toEqual(answersFrom('v1', STAGING));
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v2', PRODUCTION));
  });

  it('lists the hosts Serf sees, by role and environment', async () => {
    const members = await fleet.cli(['members', '--role', 'web', '--env', 'staging', '--json']);
    expect(members.exitCode, members.stderr).toBe(0);
    expect((JSON.parse(members.stdout) as Array<{ name: string }>).map((m) => m.name).sort()).toEqual(STAGING);
  });
});

describe('two hosts', () => {
  let fleet: TestCluster;

  beforeAll(async () => {
    fleet = await startCluster({ name: 'gvtest-e2e-pair', subnet: '10.215.0', production: 2 });
  });
  afterAll(async () => {
    await fleet?.[Symbol.asyncDispose]();
  });

  it('deploys one host at a time', async () => {
    const result = await fleet.deploy('web', 'production', 'v2');
    expect(result.exitCode, result.stderr).toBe(0);
    expectCompleteRollout(result.deploy, ['h1', 'h2'], 1);
    expect(await fleet.lbAnswers(8)).toEqual(answersFrom('v2', ['h1', 'h2']));
  });
});
