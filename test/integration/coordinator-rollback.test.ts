// Rollback and staging-first promotion over the real Redis store: which release a rollback
// picks, and a succeeded staging deploy promoted to production exactly once. Serf's side is
// a stand-in; the coordinator's client is checked over a real HTTP listener.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../../shared/contract/errors.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { CoordinatorHarness, TOKEN, coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const logger = pino({ level: 'silent' });

const testRedis = redisForThisFile();
let redis: Redis;
let coordinator: CoordinatorHarness;

beforeEach(async () => {
  // The last test's event readers (a quarantine's rollback among them) end before the store is emptied.
  await coordinator?.fleetEvents.settled();
  redis = testRedis.client;
  await redis.flushdb();
  ({ coordinator } = coordinatorOverRedis(redis, logger));
});

const call = (method: string, path: string, body?: unknown) => coordinator.call(method, path, body);
const publish = async (tag: string): Promise<void> => void (await coordinator.publish('web', tag));
const deploy = (env: string, tag: string): Promise<Deploy> => coordinator.deploy('web', env, tag);
const getDeploy = (id: string): Promise<Deploy> => coordinator.getDeploy(id);
const report = (id: string, host: string, state: HostReport['state'], extra: Partial<HostReport> = {}) => coordinator.report(id, host, state, extra);
const succeedEverywhere = (created: Deploy): Promise<void> => coordinator.succeedEverywhere(created);
const app = () => coordinator.app;

describe('rollback', () => {
  it('goes back to v1 after v1 and then v2 succeeded', async () => {
    await publish('v1');
    await succeedEverywhere(await deploy('production', 'v1'));
    await publish('v2');
    await succeedEverywhere(await deploy('production', 'v2'));

    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({ role: 'web', env: 'production', tag: 'v1', rollbackOf: 'v2', status: 'in_progress', targets: ['h1', 'h2', 'h3'] });
    expect(coordinator.events.fired.at(-1)).toEqual({ v: 1, role: 'web', env: 'production', id: answer.body.id });
    expect(await redis.get(redisKeys.desired('web', 'production'))).toBe('v1');
  });

  it('goes back from a tag whose deploy failed to the one that last succeeded', async () => {
    await publish('v1');
    await succeedEverywhere(await deploy('production', 'v1'));
    await publish('v2');
    const bad = await deploy('production', 'v2');
    await report(bad.id, 'h1', 'failed', { counted: 3, remaining: 2, error: 'pull: manifest unknown' });

    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({ tag: 'v1', rollbackOf: 'v2' });
  });

  it('skips tags marked broken since they succeeded', async () => {
    for (const tag of ['v1', 'v2', 'v3']) {
      await publish(tag);
      await succeedEverywhere(await deploy('production', tag));
    }
    expect((await call('POST', '/v1/releases/web/v2/broken', { reason: 'corrupts sessions' })).status).toBe(200);

    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({ tag: 'v1', rollbackOf: 'v3' });
  });

  it('answers 409 nothing_to_roll_back when no other good release succeeded there, and fires nothing', async () => {
    const never = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(never.status).toBe(409);
    expect(never.body.error.code).toBe('nothing_to_roll_back');
    expect(never.body.error.message).toContain('production');

    await publish('v1');
    await succeedEverywhere(await deploy('production', 'v1'));
    // A success in another environment does not count (qa is promoted nowhere).
    coordinator.members.add('qa', ['q1']);
    await publish('v2');
    await succeedEverywhere(await deploy('qa', 'v2'));
    const firedBefore = coordinator.events.fired.length;
    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('nothing_to_roll_back');
    expect(answer.body.error.message).toMatch(/web.*production/);
    expect(coordinator.events.fired.length).toBe(firedBefore);

    expect((await call('POST', '/v1/rollbacks', { role: 'web' })).status).toBe(400);
  });

  it('is reachable through CoordinatorClient, with nothing_to_roll_back as a ConflictError', async () => {
    const server = serve({ fetch: app().fetch, hostname: '127.0.0.1', port: 0 });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('listening', resolve);
        server.once('error', reject);
      });
      const client = new CoordinatorClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: TOKEN, timeoutMs: 5000 });
      await publish('v1');
      await succeedEverywhere(await deploy('production', 'v1'));
      const refused = client.rollback('web', 'production');
      await expect(refused).rejects.toBeInstanceOf(ConflictError);
      await expect(refused).rejects.toMatchObject({ code: 'nothing_to_roll_back' });

      await publish('v2');
      await deploy('production', 'v2');
      const release = await client.markBroken('web', 'v2', { reason: 'slow' });
      expect(release.broken).toMatchObject({ reason: 'slow', by: 'operator bootstrap (config)' });
      const rollback = await client.rollback('web', 'production');
      expect(rollback).toMatchObject({ tag: 'v1', rollbackOf: 'v2' });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('staging first', () => {
  it('a succeeded staging deploy promotes its tag to production exactly once, even when reports race', async () => {
    await publish('v1');
    const staging = await deploy('staging', 'v1');
    await report(staging.id, 's1', 'succeeded', { counted: 3, remaining: 2 });
    await report(staging.id, 's2', 'succeeded', { counted: 3, remaining: 1 });
    // s3's agent has its credential before it reports, as every agent does: the race is the reports' alone.
    await coordinator.hostToken('s3');
    // The last report, a resend of it and a late resend of another all arrive at once.
    const answers = await Promise.all([
      report(staging.id, 's3', 'succeeded', { counted: 3, remaining: 0 }),
      report(staging.id, 's3', 'succeeded', { counted: 3, remaining: 0 }),
      report(staging.id, 's2', 'succeeded', { counted: 3, remaining: 1 }),
    ]);
    expect(answers.map((a) => a.body.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);

    const toProduction = coordinator.events.fired.filter((e) => e.env === 'production');
    expect(toProduction).toHaveLength(1);
    const promoted = await getDeploy(toProduction[0]!.id);
    expect(promoted).toMatchObject({ env: 'production', tag: 'v1', status: 'in_progress', promotedFrom: staging.id, targets: ['h1', 'h2', 'h3'] });
    expect(await getDeploy(staging.id)).toMatchObject({ status: 'succeeded', promotedTo: promoted.id });
    expect((await call('GET', '/v1/deploys?role=web&env=production')).body.deploys).toHaveLength(1);
  });

  it('a failed staging deploy promotes nothing', async () => {
    await publish('v1');
    const staging = await deploy('staging', 'v1');
    await report(staging.id, 's1', 'succeeded', { counted: 3, remaining: 2 });
    await report(staging.id, 's2', 'failed', { counted: 3, remaining: 1, error: 'health: timed out' });
    expect((await report(staging.id, 's3', 'cancelled', { counted: 3, remaining: 0, error: 'release marked broken' })).body.status).toBe('failed');

    expect(coordinator.events.fired.filter((e) => e.env === 'production')).toEqual([]);
    const record = await getDeploy(staging.id);
    expect(record.promotedTo).toBeUndefined();
    expect(record.promotion).toBeUndefined();
  });

  it('a production deploy does not promote, and a promotion that cannot be made is recorded instead', async () => {
    await publish('v1');
    await succeedEverywhere(await deploy('production', 'v1'));
    expect(coordinator.events.fired.filter((e) => e.env !== 'production')).toEqual([]);

    await publish('v2');
    const staging = await deploy('staging', 'v2');
    await report(staging.id, 's1', 'succeeded', { counted: 3, remaining: 2 });
    await report(staging.id, 's2', 'succeeded', { counted: 3, remaining: 1 });
    expect((await call('POST', '/v1/releases/web/v2/broken', { reason: 'bad migration' })).status).toBe(200);
    const last = await report(staging.id, 's3', 'succeeded', { counted: 3, remaining: 0 });
    expect(last.body).toEqual({ status: 'succeeded' });

    const record = await getDeploy(staging.id);
    expect(record.promotedTo).toBeUndefined();
    expect(record.promotion?.error).toMatch(/production.*broken.*bad migration/);
    // Only the v1 deploy ever went to production.
    expect(coordinator.events.fired.filter((e) => e.env === 'production')).toHaveLength(1);
  });
});
