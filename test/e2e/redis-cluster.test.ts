// A dev cluster whose Redis is a three-master Redis Cluster (`dev up --redis cluster`): the
// coordinator, the relay and every agent reach it through a seed list, a real rolling deploy
// of three hosts ends succeeded, and its keys landed on every master.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { redisSettingOf } from '../../dev-cluster/redis-mode.js';
import { clusterKeySlot } from '../../shared/contract/redis-key-slot.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { connectRedis, dataNodes, type RedisClient } from '../../shared/redis/connection.js';
import { answersFrom, startCluster, type TestCluster } from '../fixtures/cluster.js';

const HOSTS = ['h1', 'h2', 'h3'];
let fleet: TestCluster;
let admin: RedisClient | undefined;

beforeAll(async () => {
  // Its own subnet: the Sentinel file's cluster (10.247.0) may be up beside it (vitest.config.ts).
  fleet = await startCluster({ name: 'gvredis-cluster', subnet: '10.255.0', production: HOSTS.length, redis: 'cluster' });
  admin = await connectRedis(redisSettingOf(fleet.state(), 'admin'), pino({ level: 'silent' }));
}, 240_000);
afterAll(async () => {
  admin?.disconnect();
  await fleet?.[Symbol.asyncDispose]();
}, 120_000);

it('rolls v1 out to three hosts over a Redis Cluster, the keys spread over its three masters', async () => {
  expect(fleet.state().redisTopology?.mode).toBe('cluster');
  const startedAt = Date.now();
  const { exitCode, stderr, deploy } = await fleet.deploy('web', 'production', 'v1');
  console.log(`deploy of v1 to ${HOSTS.length} hosts over a Redis Cluster: ${Date.now() - startedAt} ms`);
  expect(exitCode, stderr).toBe(0);
  expect(deploy.status).toBe('succeeded');
  expect(Object.keys(deploy.hosts).sort()).toEqual(HOSTS);
  expect(Object.values(deploy.hosts).map((host) => host.state)).toEqual(HOSTS.map(() => 'succeeded'));
  expect(await fleet.lbAnswers(12)).toEqual(answersFrom('v1', HOSTS));
  // Every host served again: the group's out-of-service set is empty, read across the masters.
  expect((await fleet.groupKeys()).out).toEqual([]);

  // The group's keys and the deploy's keys each sit in their own slot, wherever that is.
  const client = admin!;
  expect(await client.exists(redisKeys.deploy(deploy.id))).toBe(1);
  expect(await client.get(redisKeys.epoch('web', 'production'))).not.toBeNull();
  const perMaster = await Promise.all(dataNodes(client).map((node) => node.dbsize()));
  console.log(`keys per master after the deploy: ${perMaster.join(', ')} (group slot ${clusterKeySlot(redisKeys.epoch('web', 'production'))}, deploy slot ${clusterKeySlot(redisKeys.deploy(deploy.id))})`);
  expect(perMaster).toHaveLength(3);
  expect(perMaster.every((count) => count > 0)).toBe(true);
}, 240_000);
