// A dev cluster whose Redis is a primary and a replica behind three Sentinels (`dev up
// --redis sentinel`): the primary is killed with SIGKILL in the middle of a rolling deploy
// of six hosts (k = 2). Sentinel promotes the replica, every process follows it, and the
// deploy ends succeeded; HAProxy's server states and the group's out-of-service set, sampled
// the whole time, never show more than k hosts out; releases and the earlier deploy's record survive.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { killProcess } from '../../dev-cluster/local-process.js';
import { redisSettingOf } from '../../dev-cluster/redis-mode.js';
import { backendFor } from '../../dev-cluster/sample-app.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { connectRedis, type RedisClient } from '../../shared/redis/connection.js';
import { PRODUCTION, answersFrom, readyServers, startCluster, type TestCluster } from '../fixtures/cluster.js';
import { until } from '../fixtures/poll.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { pause } from '../../shared/contract/waiting.js';

const K = 2;
const SAMPLE_EVERY_MS = 100;
let fleet: TestCluster;
let admin: RedisClient | undefined;

beforeAll(async () => {
  fleet = await startCluster({ name: 'gvredis-sentinel', subnet: '10.247.0', production: PRODUCTION.length, redis: 'sentinel' });
  admin = await connectRedis(redisSettingOf(fleet.state(), 'admin'), pino({ level: 'silent' }));
}, 240_000);
afterAll(async () => {
  admin?.disconnect();
  await fleet?.[Symbol.asyncDispose]();
}, 120_000);

/** Samples HAProxy's ready servers and the out-of-service set until stopped; keeps the most seen out of each. */
function sampleOut(stop: AbortSignal): Promise<{ haproxy: number; set: number; samples: number; redisMisses: number }> {
  const seen = { haproxy: 0, set: 0, samples: 0, redisMisses: 0 };
  const runtimeSocket = fleet.state().runtimeSocket;
  return (async () => {
    while (!stop.aborted) {
      const ready = await readyServers(runtimeSocket, backendFor('production'));
      if (ready) seen.haproxy = Math.max(seen.haproxy, PRODUCTION.filter((host) => !ready.has(host)).length);
      // Redis is away for a few seconds during the failover: those samples count as misses.
      const out = await fleet.groupKeys().then((keys) => keys.out.length, () => undefined);
      if (out === undefined) seen.redisMisses += 1;
      else seen.set = Math.max(seen.set, out);
      seen.samples += 1;
      await pause(SAMPLE_EVERY_MS);
    }
    return seen;
  })();
}

it('goes on through a kill -9 of the Redis primary with never more than k hosts out, and loses nothing', async () => {
  const first = await fleet.deploy('web', 'production', 'v1');
  expect(first.exitCode, first.stderr).toBe(0);
  expect(first.deploy.status).toBe('succeeded');

  const stop = new AbortController();
  const sampling = sampleOut(stop.signal);
  const startedAt = Date.now();
  // Created without --wait, then read with `status` until it ends: an operator's wait that
  // outlives the seconds Redis is away (the coordinator answers with an error meanwhile).
  const created = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'v2', '--json']);
  expect(created.exitCode, created.stderr).toBe(0);
  const printed = JSON.parse(created.stdout) as { id?: string; deploy?: { id: string } };
  const id = printed.id ?? printed.deploy?.id;
  if (id === undefined) throw new Error(`deploy --json printed no id: ${created.stdout.slice(0, 200)}`);
  let statusErrors = 0;
  let lastSeen: Deploy | undefined;
  const rollout = until(
    'the v2 deploy to end',
    async () => {
      const status = await fleet.cli(['status', id, '--json']);
      if (status.exitCode === 2) {
        statusErrors += 1;
        throw new Error(`status exited 2: ${status.stderr.trim()}`);
      }
      const deploy = (JSON.parse(status.stdout) as { deploy?: Deploy }).deploy ?? (JSON.parse(status.stdout) as Deploy);
      lastSeen = deploy;
      return deploy.status === 'in_progress' ? undefined : { exitCode: status.exitCode, stderr: status.stderr, deploy };
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  // Mid-rollout: the first wave is out of service.
  await until('the first hosts out of service', async () => ((await fleet.groupKeys()).out.length > 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
  const primary = fleet.state().redisTopology?.nodes.find((node) => node.name === 'primary');
  if (!primary) throw new Error('no primary recorded in the cluster state');
  expect(await killProcess(primary.process)).toBe(true);
  const killedAfterMs = Date.now() - startedAt;

  const second = await rollout.catch((error: unknown) => {
    // What each host had said when the wait gave up: which of them the deploy still waits for.
    throw new Error(`${String(error)}\nlast status read:\n${lastSeen ? hostLines(lastSeen).join('\n') : 'none'}`, { cause: error });
  });
  stop.abort();
  const seen = await sampling;
  console.log(
    `v2 over 6 hosts with the primary killed ${killedAfterMs} ms in: ${Date.now() - startedAt} ms; most out: HAProxy ${seen.haproxy}, out-of-service set ${seen.set} (k = ${K}); ${seen.samples} samples, ${seen.redisMisses} while Redis was away; ${statusErrors} status calls refused meanwhile`,
  );
  expect(second.deploy.status, `${second.deploy.reason ?? ''}\n${hostLines(second.deploy).join('\n')}`).toBe('succeeded');
  expect(Object.values(second.deploy.hosts).map((host) => host.state)).toEqual(PRODUCTION.map(() => 'succeeded'));
  expect(seen.haproxy).toBeLessThanOrEqual(K);
  expect(seen.set).toBeLessThanOrEqual(K);
  expect(seen.samples).toBeGreaterThan(10);
  expect(await fleet.lbAnswers(24)).toEqual(answersFrom('v2', PRODUCTION));

  // Written before the failover and acknowledged since: the releases and the first deploy's record.
  const client = admin!;
  expect(Object.keys(await client.hgetall(redisKeys.releases('web')))).toEqual(expect.arrayContaining(['v1', 'v2']));
  expect(await client.exists(redisKeys.deploy(first.deploy.id))).toBe(1);
  expect(await client.exists(redisKeys.deploy(second.deploy.id))).toBe(1);
  expect(await client.call('INFO', 'replication')).toMatch(/^role:master/m);
}, 300_000);

/** One line a host: its state, its error and its steps. */
function hostLines(deploy: Deploy): string[] {
  return Object.values(deploy.hosts).map((host) => `${host.host} ${host.state}${host.error ? ` (${host.error})` : ''}: ${host.steps.map((s) => s.step).join(' ')}`);
}
