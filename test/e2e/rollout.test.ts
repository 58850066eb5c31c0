// A release reaches every matching host by gossip, a third at a time (rounded up: two
// hosts one at a time), on a local cluster of 6 production and 2 staging hosts with their
// own addresses, real Serf, Redis, Docker and HAProxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisSlotLocks, type RedisSlotLease } from '../../shared/redis/slot-locks.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { PRODUCTION, answersFrom, maxConcurrentDeploying, startCluster, type TestCluster } from '../fixtures/cluster.js';
import { endedDeploy } from '../fixtures/wait-output.js';
import { until } from '../fixtures/poll.js';

/** Two hosts: k = ceil(2/3) = 1, so they deploy one at a time. */
const STAGING = ['s1', 's2'];

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

describe('six production hosts and two staging hosts', () => {
  let fleet: TestCluster;

  beforeAll(async () => {
    fleet = await startCluster({ name: 'gvtest-e2e', subnet: '10.214.0', production: 6, staging: STAGING.length });
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

  it('changes only the targeted environment, whose two hosts deploy one at a time', async () => {
    const staging = await fleet.deploy('web', 'staging', 'v1');
    expect(staging.exitCode, staging.stderr).toBe(0);
    expectCompleteRollout(staging.deploy, STAGING, 1);
    expect(await fleet.lbAnswers(8, 'staging')).toEqual(answersFrom('v1', STAGING));
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v2', PRODUCTION));
  });

  it('takes part in two deploys fired back to back one after the other on each host, and ends on the newer', async () => {
    // Both of the group's slots are held here first, so that both deploys reach every host
    // while nobody can move: each host must then wait for the older deploy only.
    const redis = new Redis(fleet.cluster.state.redisUrl);
    const logger = pino({ level: 'silent' });
    const locks = new RedisSlotLocks({ redis, ttlMs: 120_000, logger });
    const group = { role: 'web', env: 'production' };
    const held: RedisSlotLease[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const got = await locks.acquire({ group, deployId: 'd1', slots: 2, holder: 'gvtest-holder', tag: 'v1', signal: AbortSignal.timeout(10_000), logger });
        if (got.kind !== 'acquired') throw new Error('could not hold a slot for the test');
        held.push(got.lease);
      }
      const ids: string[] = [];
      const fire = async (tag: string) => {
        const fired = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', tag, '--json']);
        expect(fired.exitCode, fired.stderr).toBe(0);
        ids.push((JSON.parse(fired.stdout) as Deploy).id);
      };
      // Serf does not keep user events in order: fired at once, v2's event could reach a host
      // first, and that host would rightly refuse v1 after it (it would deploy backwards). So v2
      // goes out only once every host waits in v1's queue, and then reaches hosts busy with v1.
      await fire('v1');
      const waiters = async () => (await redis.zrange(redisKeys.waiters('web', 'production'), '0', '-1')).map((token) => token.split('/')[0]);
      await until('every host to queue for the older deploy', async () => ((await waiters()).length >= PRODUCTION.length ? true : undefined), { timeoutMs: 30_000 });
      await fire('v2');
      // The newer deploy's event has reached every host's Serf agent once each shows the
      // coordinator's event time; the handler hands it to the agent at once.
      const fired = await fleet.serfEventTime();
      await until('the newer deploy to reach every production host', async () => {
        const times = await Promise.all(PRODUCTION.map((host) => fleet.serfEventTime(host)));
        return times.every((time) => time >= fired) ? true : undefined;
      }, { timeoutMs: 30_000 });
      expect((await waiters()).sort()).toEqual(PRODUCTION);

      for (const lease of held.splice(0)) await lease.release();
      const [olderEnd, newerEnd] = await Promise.all(ids.map((id) => fleet.cli(['status', id, '--wait', '--json'])));
      const older = endedDeploy(olderEnd!.stdout);
      const newer = endedDeploy(newerEnd!.stdout);
      expectCompleteRollout(older, PRODUCTION, 2);
      expectCompleteRollout(newer, PRODUCTION, 2);
      for (const host of PRODUCTION) {
        const released = older.hosts[host]!.steps.find((s) => s.step === 'release')!.at;
        const slot = newer.hosts[host]!.steps.find((s) => s.step === 'slot')!.at;
        expect(slot, `${host} took part in v2 before it was done with v1`).toBeGreaterThanOrEqual(released);
      }
      // The two deploys share the group's slots: never more than two hosts down between them.
      const both = { ...newer, hosts: Object.fromEntries(PRODUCTION.flatMap((h) => [[`${h}-v1`, older.hosts[h]!], [`${h}-v2`, newer.hosts[h]!]])) };
      expect(maxConcurrentDeploying(both)).toBeLessThanOrEqual(2);
      expect(await fleet.lbAnswers(24)).toEqual(answersFrom('v2', PRODUCTION));
    } finally {
      for (const lease of held) await lease.release();
      redis.disconnect();
    }
  });

  it('lists the hosts Serf sees, by role and environment', async () => {
    const members = await fleet.cli(['members', '--role', 'web', '--env', 'staging', '--json']);
    expect(members.exitCode, members.stderr).toBe(0);
    expect((JSON.parse(members.stdout) as Array<{ name: string }>).map((m) => m.name).sort()).toEqual(STAGING);
  });
});
