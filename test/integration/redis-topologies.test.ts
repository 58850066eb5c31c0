// The connection factory against a real three-master Redis Cluster and a real Sentinel
// set-up (Debian's redis-server and redis-sentinel, local processes on loopback, the
// project's ACL users): keys spread over the masters and scripts run where their slot is,
// MOVED answered for the caller, a Sentinel failover seen by a client that keeps working
// and keeps what a replica acknowledged.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACL_TEMPLATE, aclFileText, newRedisUsers, passwordOf, type RedisUsers } from '../../dev-cluster/redis-acl.js';
import { killProcess, stopProcess } from '../../dev-cluster/local-process.js';
import { SENTINEL_PRIMARY_NAME, startRedisCluster, startRedisSentinel, type RedisNode, type SentinelSetUp } from '../../dev-cluster/redis-topology.js';
import { clusterKeySlot } from '../../shared/contract/redis-key-slot.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { UnreachableError } from '../../shared/contract/errors.js';
import { connectRedis, dataNodes, type RedisClient } from '../../shared/redis/connection.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';
import { RedisFlagStore } from '../../shared/redis/flag-store.js';
import { confirmOnReplica } from '../../shared/redis/replica-ack.js';
import { applySettings } from '../../coordinator/flags/flag-changes.js';
import { until } from '../fixtures/poll.js';

const silent = pino({ level: 'silent' });
const HOST = '127.0.0.1';
const dir = mkdtempSync(join(tmpdir(), 'gvtest-redis-topologies-'));
const users: RedisUsers = newRedisUsers(HOST, 0);
const options = { dir, host: HOST, aclText: aclFileText(readFileSync(ACL_TEMPLATE, 'utf8'), users), adminPassword: passwordOf(users.admin) };
const url = (user: 'agent' | 'coordinator' | 'admin', port: number) => {
  const parsed = new URL(users[user]);
  parsed.port = String(port);
  return parsed.toString();
};
const started: RedisNode[] = [];
const clients: RedisClient[] = [];
const keep = <T extends RedisClient>(client: T) => (clients.push(client), client);

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all(started.map((node) => stopProcess(node.process, 2_000)));
  rmSync(dir, { recursive: true, force: true });
});

describe('on a three-master Redis Cluster', () => {
  let nodes: RedisNode[];
  beforeAll(async () => {
    nodes = await startRedisCluster(options);
    started.push(...nodes);
  }, 60_000);

  it("spreads the groups' keys over every master and runs each store's scripts where their slot lives", async () => {
    const coordinator = keep(await connectRedis({ cluster: [url('coordinator', nodes[0]!.port)] }, silent));
    const agent = keep(await connectRedis({ cluster: [url('agent', nodes[1]!.port)] }, silent));
    // Names alike (role1, role2, ...) have alike CRC16s: real-looking roles spread as a fleet's would.
    for (const role of ['web', 'api', 'worker', 'mobile', 'admin', 'search', 'billing', 'auth', 'mail', 'cache']) {
      for (const env of ['production', 'staging']) await agent.set(redisKeys.epoch(role, env), '1');
    }
    // Counted as the operator would, as admin: no Grapevine user may run DBSIZE.
    const admin = keep(await connectRedis({ cluster: [url('admin', nodes[2]!.port)] }, silent));
    const perMaster = await Promise.all(dataNodes(admin).map((node) => node.dbsize()));
    console.log(`keys per master: ${perMaster.join(', ')}`);
    expect(perMaster).toHaveLength(3);
    expect(perMaster.every((count) => count > 0)).toBe(true);

    // Two-key scripts (one hash tag each) on whichever master holds their slot.
    const credentials = new RedisCredentialStore({ redis: coordinator, logger: silent });
    const { token } = await credentials.create({ scope: 'deployer', name: 'ci', createdBy: 'test' });
    expect((await credentials.verify(token))?.name).toBe('ci');
    const flags = new RedisFlagStore({ redis: coordinator, logger: silent });
    for (const env of ['production', 'staging', 'qa']) {
      const change = await flags.change(env, 'banner', (current) => applySettings(current, { percent: 10 }, { env, name: 'banner', by: 'test', at: 1 }));
      expect(change.changed).toBe(true);
    }
    // A cluster master without replicas: a grant has nothing to wait for.
    expect(await confirmOnReplica(agent, redisKeys.slot('web', 'production', 1), silent)).toEqual({ kind: 'no-replicas' });
  });

  it('answers MOVED for the caller: a key another master holds is read through a seed that does not hold it', async () => {
    const key = redisKeys.freeze('moved', 'production');
    const cluster = keep(await connectRedis({ cluster: [url('agent', nodes[0]!.port)] }, silent));
    await cluster.set(key, 'frozen');
    // Asked directly, the two masters that do not hold the slot answer MOVED.
    const slot = clusterKeySlot(key);
    const moved: string[] = [];
    for (const node of nodes) {
      const plain = keep(new Redis(url('agent', node.port), { maxRetriesPerRequest: 0 }));
      const reply = await plain.get(key).catch((error: Error) => error.message);
      if (reply !== 'frozen') moved.push(String(reply));
    }
    expect(moved).toHaveLength(2);
    for (const reply of moved) expect(reply).toMatch(new RegExp(`^MOVED ${slot} `));
    expect(await cluster.get(key)).toBe('frozen');
  });

  it('refuses with UnreachableError, no password in it, when no seed answers', async () => {
    const setting = { cluster: [url('agent', 1)] };
    const error = await connectRedis(setting, silent).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnreachableError);
    expect(String((error as Error).message)).toMatch(/Redis Cluster seeded by redis:\/\/agent:\*\*\*@127\.0\.0\.1:1/);
    expect(String((error as Error).message)).not.toContain(passwordOf(users.agent));
  }, 30_000);
});

describe('behind three Sentinels', () => {
  let setUp: SentinelSetUp;
  beforeAll(async () => {
    setUp = await startRedisSentinel(options);
    started.push(setUp.primary, setUp.replica, ...setUp.sentinels);
  }, 60_000);

  it('keeps a replica-acknowledged grant through a kill -9 of the primary, and the client follows the promotion', async () => {
    const setting = { sentinels: setUp.sentinels.map((node) => `${HOST}:${node.port}`), name: SENTINEL_PRIMARY_NAME, user: 'agent', password: passwordOf(users.agent) };
    const agent = keep(await connectRedis(setting, silent));
    const grant = redisKeys.slot('web', 'production', 1);
    await agent.set(grant, 'host-1/grant', 'PX', 60_000);
    expect(await confirmOnReplica(agent, grant, silent)).toEqual({ kind: 'acked', replicas: 1 });

    const killedAt = Date.now();
    await killProcess(setUp.primary.process);
    // Writes resume once Sentinel has promoted the replica and the client has found it.
    const resumedAfterMs = await until(
      'a write through the promoted replica',
      async () => ((await agent.set(redisKeys.epoch('web', 'production'), '1')) === 'OK' ? Date.now() - killedAt : undefined),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    console.log(`writes resumed ${resumedAfterMs} ms after the primary's kill -9`);
    expect(await agent.call('INFO', 'replication')).toMatch(/^role:master/m);
    expect(await agent.call('INFO', 'server')).toMatch(new RegExp(`^tcp_port:${setUp.replica.port}\\r?$`, 'm'));
    expect(await agent.get(grant)).toBe('host-1/grant');
  }, 60_000);
});
