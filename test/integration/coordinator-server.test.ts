// The coordinator as `grapevine coordinator` runs it: real Redis, its own real Serf agent,
// a real host agent joining it, and the watchdog on its own timer.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/server.js';
import { CoordinatorConfig } from '../../shared/contract/config.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { ConflictError } from '../../shared/contract/errors.js';
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
const COORDINATOR_IP = '127.0.0.41';
const HOST_IP = '127.0.0.42';
/** Serf notices a join or a departure within seconds; the watchdog runs on its own timer on top. */
const PATIENCE = { timeoutMs: 20_000 };

describe('coordinator server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-coordinator-'));
  let redis: RedisInstance;
  let coordinator: RunningCoordinator | undefined;
  let host: SerfAgentProcess | undefined;
  let client: CoordinatorClient;
  let coordinatorSerf: SerfRpcClient;
  const images: PushedImage[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    images.push(await pushImage(`${testRegistry()}/gvserver/web:v1`, `coordinator-server-${process.pid}`));
    const gossipPort = await freePort(COORDINATOR_IP);
    const rpc = `${COORDINATOR_IP}:${await freePort(COORDINATOR_IP)}`;
    const config = CoordinatorConfig.parse({
      listen: { host: '127.0.0.1', port: 0 },
      redis: redis.url,
      token: TOKEN,
      // Its releases' images are pushed to the run's registry, under this file's own prefix.
      registry: `${testRegistry()}/gvserver`,
      registries: [{ address: testRegistry(), plainHttp: true }],
      serf: { bind: `${COORDINATOR_IP}:${gossipPort}`, rpc, rpcAuth: RPC_AUTH, dataDir: join(dir, 'coordinator-serf') },
    });
    coordinator = await startCoordinator(config, logger);
    client = new CoordinatorClient({ url: coordinator.url, token: TOKEN, timeoutMs: 15_000 });
    coordinatorSerf = new SerfRpcClient({ rpcAddr: rpc, rpcAuth: RPC_AUTH });

    host = new SerfAgentProcess({
      nodeName: 'w1',
      serf: {
        binary: 'serf',
        bind: `${HOST_IP}:${gossipPort}`,
        rpc: `${HOST_IP}:${await freePort(HOST_IP)}`,
        join: [`${COORDINATOR_IP}:${gossipPort}`],
        rpcAuth: RPC_AUTH,
        dataDir: join(dir, 'w1-serf'),
      },
      tags: { env: 'production', roles: 'web' },
      logger,
    });
    await host.start();
    await until(
      "w1 alive in the coordinator's view",
      async () => ((await coordinatorSerf.members({ status: 'alive' })).some((m) => m.name === 'w1') ? true : undefined),
      PATIENCE,
    );
  });

  afterAll(async () => {
    await host?.stop();
    await coordinator?.stop();
    await redis?.[Symbol.asyncDispose]();
    await removeLocalImages(images);
    rmSync(dir, { recursive: true, force: true });
  });

  it('targets the alive hosts Serf lists, refuses an environment with none, and ends a deploy whose only host left', async () => {
    await client.publishRelease({ role: 'web', tag: 'v1' });

    const refused = client.createDeploy({ role: 'web', env: 'qa' });
    await expect(refused).rejects.toBeInstanceOf(ConflictError);
    await expect(refused).rejects.toMatchObject({ code: 'no_hosts', message: 'no alive host has role web in environment qa' });

    const created = await client.createDeploy({ role: 'web', env: 'production' });
    expect(created).toMatchObject({ targets: ['w1'], expectedHosts: 1, status: 'in_progress' });

    // The host leaves before its agent ever answers: the watchdog must end the deploy by itself.
    await host?.stop();
    host = undefined;
    const ended = await until(
      'the deploy to end',
      async () => {
        const deploy = await client.getDeploy(created.id);
        return deploy.status === 'in_progress' ? undefined : deploy;
      },
      PATIENCE,
    );
    expect(ended).toMatchObject({ status: 'partial', reason: 'hosts lost: w1' });
    expect(ended.hosts.w1).toMatchObject({ state: 'lost', error: 'Serf reports the host left' });
  });
});
