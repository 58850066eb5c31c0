// Cluster deploys as `grapevine coordinator` runs them, with real Serf agents tagged by cluster:
// the coordinator's member query by the `cluster` tag picks the cluster's hosts alone, and its
// config's routing reaches the relay it names (here one that does not answer: nothing changes).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/server.js';
import { CoordinatorConfig } from '../../shared/contract/config.js';
import { ConflictError, UnreachableError } from '../../shared/contract/errors.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { RoutingClient } from '../../shared/coordinator-http/routing-client.js';
import { SerfAgentProcess } from '../../shared/serf/serf-agent-process.js';
import { SerfRpcClient } from '../../shared/serf/serf-rpc-client.js';
import { until } from '../fixtures/poll.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';
import { freePort } from '../fixtures/server-process.js';
import { pushImage, removeLocalImages, type PushedImage } from '../fixtures/registry-images.js';
import { testRegistry } from '../fixtures/test-infra.js';

const logger = pino({ level: 'silent' });
const TOKEN = 'test-token-0123456789';
const RPC_AUTH = 'serf-test-token-1234';
const COORDINATOR_IP = '127.0.0.241';
/** Each host's loopback address and cluster tag (none for h0). */
const HOSTS = [
  { name: 'h0', ip: '127.0.0.242' },
  { name: 'r1', ip: '127.0.0.243', cluster: 'red' },
  { name: 'r2', ip: '127.0.0.244', cluster: 'red' },
  { name: 'w1', ip: '127.0.0.245', cluster: 'white' },
];
const PATIENCE = { timeoutMs: 20_000 };

describe('cluster deploys over real Serf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-clusters-'));
  let redis: RedisInstance;
  let coordinator: RunningCoordinator | undefined;
  const hosts: SerfAgentProcess[] = [];
  let client: CoordinatorClient;
  const images: PushedImage[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    images.push(await pushImage(`${testRegistry()}/gvclusters/web:v1`, `cluster-deploy-${process.pid}`));
    const gossipPort = await freePort(COORDINATOR_IP);
    const rpc = `${COORDINATOR_IP}:${await freePort(COORDINATOR_IP)}`;
    const tokenFile = join(dir, 'relay.token');
    writeFileSync(tokenFile, 'relay-token-0123456789', { mode: 0o600 });
    const config = CoordinatorConfig.parse({
      listen: { host: '127.0.0.1', port: 0 },
      redis: redis.url,
      token: TOKEN,
      registry: `${testRegistry()}/gvclusters`,
      registries: [{ address: testRegistry(), plainHttp: true }],
      serf: { bind: `${COORDINATOR_IP}:${gossipPort}`, rpc, rpcAuth: RPC_AUTH, dataDir: join(dir, 'coordinator-serf') },
      // A relay nobody serves: a route read must say so and change nothing.
      loadBalancer: { relay: { url: `http://127.0.0.1:${await freePort('127.0.0.1')}`, tokenFile } },
      routing: { web: { production: { frontend: 'web' } } },
    });
    coordinator = await startCoordinator(config, logger);
    client = new CoordinatorClient({ url: coordinator.url, token: TOKEN, timeoutMs: 15_000 });
    const coordinatorSerf = new SerfRpcClient({ rpcAddr: rpc, rpcAuth: RPC_AUTH });
    for (const spec of HOSTS) {
      const host = new SerfAgentProcess({
        nodeName: spec.name,
        serf: { binary: 'serf', bind: `${spec.ip}:${gossipPort}`, rpc: `${spec.ip}:${await freePort(spec.ip)}`, join: [`${COORDINATOR_IP}:${gossipPort}`], rpcAuth: RPC_AUTH, dataDir: join(dir, `${spec.name}-serf`) },
        tags: { env: 'production', roles: 'web', ...(spec.cluster === undefined ? {} : { cluster: spec.cluster }) },
        logger,
      });
      hosts.push(host);
      await host.start();
    }
    await until(
      "every host alive in the coordinator's view",
      async () => ((await coordinatorSerf.members({ status: 'alive' })).filter((m) => m.tags.roles === 'web').length === HOSTS.length ? true : undefined),
      PATIENCE,
    );
  });

  afterAll(async () => {
    for (const host of hosts) await host.stop();
    await coordinator?.stop();
    await redis?.[Symbol.asyncDispose]();
    await removeLocalImages(images);
    rmSync(dir, { recursive: true, force: true });
  });

  it('deploys one cluster to its tagged hosts alone, with k of them, and refuses a cluster with none', async () => {
    await client.publishRelease({ role: 'web', tag: 'v1' });
    const red = await client.createDeploy({ role: 'web', env: 'production', tag: 'v1', cluster: 'red' });
    expect(red).toMatchObject({ cluster: 'red', targets: ['r1', 'r2'], slots: 1 });
    const white = await client.createDeploy({ role: 'web', env: 'production', tag: 'v1', cluster: 'white' });
    expect(white).toMatchObject({ cluster: 'white', targets: ['w1'] });

    const none = client.createDeploy({ role: 'web', env: 'production', tag: 'v1', cluster: 'blue' });
    await expect(none).rejects.toBeInstanceOf(ConflictError);
    await expect(none).rejects.toMatchObject({ code: 'no_hosts', message: 'no alive host has role web in environment production in cluster blue (Serf tag cluster=blue)' });

    const all = await client.createDeploy({ role: 'web', env: 'production', tag: 'v1' });
    expect(all.targets).toEqual(['h0', 'r1', 'r2', 'w1']);
  });

  it('reaches the relay its routing config names, and says nothing changed when it does not answer', async () => {
    const routing = new RoutingClient(client);
    await expect(routing.routes('web', 'production')).rejects.toBeInstanceOf(UnreachableError);
    await expect(routing.setRoute('web', 'production', { client: '>=1.1', cluster: 'white' })).rejects.toThrow(/relay .*unreachable.*; nothing was changed/);
    await expect(routing.routes('web', 'staging')).rejects.toMatchObject({ code: 'routing_unavailable' });
    expect(await routing.retiredClusters('web', 'production')).toEqual([]);
  });
});
