// The coordinator's HTTP API over the real Redis store, driven through app.request with no
// server (what Redis holds after each call checked by its keys), plus the shared client
// against the same app behind a real HTTP listener.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, UnreachableError, ValidationError } from '../../shared/contract/errors.js';
import { deployId } from '../../shared/contract/names.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy, Release } from '../../shared/contract/schemas.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { describeDeployStore } from '../fixtures/deploy-store-contract.js';
import { CoordinatorHarness, REGISTRY, TOKEN } from '../fixtures/coordinator-harness.js';
import { pinnedImage } from '../fixtures/fake-image-registry.js';
import { redisForThisFile } from '../fixtures/redis-server.js';
import { freePort } from '../fixtures/server-process.js';

const testRedis = redisForThisFile();
let redis: Redis;
let coordinator: CoordinatorHarness;
const logger = pino({ level: 'silent' });

beforeEach(async () => {
  redis = testRedis.client;
  await redis.flushdb();
  coordinator = new CoordinatorHarness({
    store: new RedisDeployStore({ redis, logger }),
    fleet: new RedisFleetState({ redis, logger, host: 'coordinator' }),
    logger,
  });
});

describeDeployStore('RedisDeployStore', () => new RedisDeployStore({ redis, logger }));

const call = (...args: Parameters<CoordinatorHarness['call']>) => coordinator.call(...args);
const publish = (role: string, tag: string, image?: string): Promise<Release> => coordinator.publish(role, tag, image);
const deploy = (role: string, env: string, tag?: string): Promise<Deploy> => coordinator.deploy(role, env, tag);

describe('coordinator API', () => {
  it('answers /healthz without a token while Redis answers', async () => {
    const answer = await call('GET', '/healthz', undefined, { token: null });
    expect(answer).toEqual({ status: 200, body: { ok: true } });
  });

  it('answers 503 on /healthz when its Redis does not answer', async () => {
    const deadRedis = new Redis(`redis://127.0.0.1:${await freePort()}`, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    deadRedis.on('error', () => {});
    try {
      const orphan = new CoordinatorHarness({ store: new RedisDeployStore({ redis: deadRedis, logger }), fleet: new RedisFleetState({ redis: deadRedis, logger }) });
      const response = await orphan.app.request('/healthz');
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ ok: false });
    } finally {
      deadRedis.disconnect();
    }
  });

  it('publishes releases, lists them newest first, republishes idempotently and refuses a different image', async () => {
    const v1 = await publish('web', 'v1');
    expect(v1).toMatchObject({ role: 'web', tag: 'v1', image: pinnedImage(`${REGISTRY}/web:v1`), publishedImage: `${REGISTRY}/web:v1` });
    await publish('web', 'v2', 'registry.internal:5000/web:v2');

    const again = await call('POST', '/v1/releases', { role: 'web', tag: 'v1' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(v1);

    const clash = await call('POST', '/v1/releases', { role: 'web', tag: 'v1', image: `${REGISTRY}/other:v1` });
    expect(clash.status).toBe(409);
    expect(clash.body.error.code).toBe('release_exists');

    const list = await call('GET', '/v1/releases/web');
    expect(list.status).toBe(200);
    expect(list.body.releases.map((r: Release) => [r.tag, r.image])).toEqual([
      ['v2', pinnedImage('registry.internal:5000/web:v2')],
      ['v1', pinnedImage(`${REGISTRY}/web:v1`)],
    ]);
    expect(await call('GET', '/v1/releases/api')).toEqual({ status: 200, body: { releases: [] } });
  });

  it('refuses to deploy a tag that was never published, naming role and tag', async () => {
    const none = await call('POST', '/v1/deploys', { role: 'web', env: 'production' });
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe('release_not_found');
    expect(none.body.error.message).toContain('web');

    await publish('web', 'v1');
    const unknown = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v9' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('release_not_found');
    expect(unknown.body.error.message).toMatch(/web.*v9/);
    expect(coordinator.events.fired).toEqual([]);
  });

  it('creates a deploy, sets the desired tag and fires exactly one event without the tag', async () => {
    await publish('web', 'v1');
    const created = await deploy('web', 'production', 'v1');
    expect(deployId.safeParse(created.id).success).toBe(true);
    expect(created).toMatchObject({ role: 'web', env: 'production', tag: 'v1', image: pinnedImage(`${REGISTRY}/web:v1`), status: 'in_progress', hosts: {} });
    expect(created).toMatchObject({ targets: ['h1', 'h2', 'h3'], expectedHosts: 3 });

    expect(coordinator.events.fired).toEqual([{ v: 1, role: 'web', env: 'production', id: created.id }]);
    expect(coordinator.events.fired[0]).not.toHaveProperty('tag');
    expect(await redis.get(redisKeys.desired('web', 'production'))).toBe('v1');

    const fetched = await call('GET', `/v1/deploys/${created.id}`);
    expect(fetched).toEqual({ status: 200, body: created });
    expect((await call('GET', '/v1/deploys/d-unknown123')).status).toBe(404);
  });

  it('deploys the newest published release when no tag is given', async () => {
    await publish('web', 'v1');
    await publish('web', 'v2');
    const created = await deploy('web', 'staging');
    expect(created.tag).toBe('v2');
    expect(await redis.get(redisKeys.desired('web', 'staging'))).toBe('v2');
  });

  it('answers 502 and stores the deploy as failed when the event cannot be fired', async () => {
    await publish('web', 'v1');
    coordinator.events.failWith = 'serf agent not running';
    const answer = await call('POST', '/v1/deploys', { role: 'web', env: 'production' });
    expect(answer.status).toBe(502);
    expect(answer.body.error.code).toBe('unreachable');

    const { body } = await call('GET', '/v1/deploys?role=web');
    expect(body.deploys).toHaveLength(1);
    expect(body.deploys[0].status).toBe('failed');
    expect(body.deploys[0].reason).toBe('could not fire the deploy event: serf agent not running');
    expect(body.deploys[0].finishedAt).toEqual(expect.any(Number));
  });

  it('finishes a deploy as succeeded when the last of three hosts counts down to zero', async () => {
    await publish('web', 'v1');
    const { id } = await deploy('web', 'production');
    for (const host of ['h1', 'h2', 'h3']) {
      const answer = await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport(host, 'waiting', { counted: 3 }));
      expect(answer).toEqual({ status: 200, body: { status: 'in_progress' } });
    }
    expect((await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h1', 'succeeded', { counted: 3, slot: 1, remaining: 2 }))).body.status).toBe('in_progress');
    expect((await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h2', 'succeeded', { counted: 3, slot: 1, remaining: 1 }))).body.status).toBe('in_progress');
    const last = await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h3', 'succeeded', { counted: 3, slot: 1, remaining: 0 }));
    expect(last.body).toEqual({ status: 'succeeded' });

    const { body } = await call('GET', `/v1/deploys/${id}`);
    expect(body).toMatchObject({ status: 'succeeded', expectedHosts: 3, finishedAt: expect.any(Number) });
    expect(Object.keys(body.hosts).sort()).toEqual(['h1', 'h2', 'h3']);
    expect(body.hosts.h2).toMatchObject({ state: 'succeeded', remaining: 1 });
    expect(await redis.zscore(redisKeys.deploysInProgress(), id)).toBeNull();

    // A late report is stored but the outcome stays.
    const late = await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h1', 'failed', { error: 'late' }));
    expect(late.body).toEqual({ status: 'succeeded' });
    expect((await call('GET', `/v1/deploys/${id}`)).body.hosts.h1.state).toBe('failed');
  });

  it('waits for a final report overtaken by the host that counted down to zero', async () => {
    coordinator.members.set(['h1', 'h2']);
    await publish('web', 'v1');
    const { id } = await deploy('web', 'production');
    await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h1', 'deploying', { counted: 2, slot: 1 }));
    const zero = await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h2', 'succeeded', { counted: 2, slot: 1, remaining: 0 }));
    expect(zero.body).toEqual({ status: 'in_progress' });
    const overtaken = await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h1', 'succeeded', { counted: 2, slot: 1, remaining: 1 }));
    expect(overtaken.body).toEqual({ status: 'succeeded' });
  });

  it('fails the deploy naming the failed host, and marks the release broken', async () => {
    await publish('web', 'v1');
    const { id } = await deploy('web', 'production');
    await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h1', 'succeeded', { counted: 3, remaining: 2 }));
    const failed = await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h2', 'failed', { counted: 3, remaining: 1, error: 'health: container exited (1)' }));
    expect(failed.body).toEqual({ status: 'in_progress' });
    const last = await call('POST', `/v1/deploys/${id}/reports`, coordinator.hostReport('h3', 'cancelled', { counted: 3, remaining: 0, error: 'release marked broken' }));
    expect(last.body).toEqual({ status: 'failed' });

    const { body } = await call('GET', `/v1/deploys/${id}`);
    expect(body.status).toBe('failed');
    expect(body.reason).toContain('h2');
    expect(body.reason).toContain('health: container exited (1)');

    const releases = (await call('GET', '/v1/releases/web')).body.releases;
    expect(releases[0].broken).toMatchObject({ by: 'h2', reason: expect.stringContaining('health: container exited (1)') });
    const again = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('release_broken');
  });

  it('answers 404 to a report on an unknown deploy', async () => {
    const answer = await call('POST', '/v1/deploys/d-unknown123/reports', coordinator.hostReport('h1', 'waiting'));
    expect(answer.status).toBe(404);
    expect(await redis.exists(redisKeys.deployHosts('d-unknown123'))).toBe(0);
  });

  it('lists deploys newest first, filtered by role and environment', async () => {
    await publish('web', 'v1');
    await publish('api', 'v1');
    const webProd = await deploy('web', 'production');
    const webStaging = await deploy('web', 'staging');
    const apiProd = await deploy('api', 'production');

    const ids = async (query: string) => ((await call('GET', `/v1/deploys${query}`)).body.deploys as Deploy[]).map((d) => d.id);
    expect(await ids('')).toEqual([apiProd.id, webStaging.id, webProd.id]);
    expect(await ids('?role=web')).toEqual([webStaging.id, webProd.id]);
    expect(await ids('?env=production')).toEqual([apiProd.id, webProd.id]);
    expect(await ids('?role=web&env=staging')).toEqual([webStaging.id]);
    expect(await ids('?limit=1')).toEqual([apiProd.id]);
    expect(await ids('?role=db')).toEqual([]);
    const bad = await call('GET', '/v1/deploys?env=Prod!');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('env');
  });
});

describe('CoordinatorClient over HTTP', () => {
  let server: ReturnType<typeof serve>;
  let client: CoordinatorClient;

  beforeEach(async () => {
    server = serve({ fetch: coordinator.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    client = new CoordinatorClient({ url: `http://127.0.0.1:${port}/`, token: TOKEN, timeoutMs: 5000 });
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('round-trips releases and deploys', async () => {
    coordinator.members.set(['h1']);
    await expect(client.health()).resolves.toEqual({ ok: true });
    const release = await client.publishRelease({ role: 'web', tag: 'v1' });
    expect(await client.listReleases('web')).toEqual([release]);
    const created = await client.createDeploy({ role: 'web', env: 'production' });
    const h1 = new CoordinatorClient({ url: client.url, token: await coordinator.hostToken('h1'), timeoutMs: 5000 });
    expect(await h1.report(created.id, coordinator.hostReport('h1', 'succeeded', { counted: 1, remaining: 0 }))).toEqual({ status: 'succeeded' });
    expect((await client.getDeploy(created.id)).status).toBe('succeeded');
    expect((await client.listDeploys({ role: 'web', limit: 5 })).map((d) => d.id)).toEqual([created.id]);
  });

  it('maps a 404 and a 400 to their error classes', async () => {
    await expect(client.getDeploy('d-unknown123')).rejects.toBeInstanceOf(NotFoundError);
    const invalid = client.publishRelease({ role: 'Web!', tag: 'v1' });
    await expect(invalid).rejects.toBeInstanceOf(ValidationError);
    await expect(invalid).rejects.toThrow(/role/);
  });

  it('reports an unreachable coordinator naming its URL', async () => {
    const port = await freePort();
    const nobody = new CoordinatorClient({ url: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: 2000 });
    const attempt = nobody.listReleases('web');
    await expect(attempt).rejects.toBeInstanceOf(UnreachableError);
    await expect(attempt).rejects.toThrow(`http://127.0.0.1:${port}`);
  });
});
