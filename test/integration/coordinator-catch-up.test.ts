// A host left behind its group's rollout asks the coordinator to catch up, over the real Redis
// store: the catch-up it gets (the rollout's release, that host alone, the rollout's k, a new
// sequence number, a deadline), what it is refused, and that asking again returns the same one.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { CatchUps } from '../../coordinator/catch-up.js';
import { CoordinatorGroupLocks } from '../../coordinator/leadership/group-lock.js';
import { newDeployRecord } from '../../coordinator/deploy-starter.js';
import { ConflictError } from '../../shared/contract/errors.js';
import type { Colour } from '../../shared/contract/strategy.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { CoordinatorHarness, REGISTRY, TOKEN, coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { pinnedImage } from '../fixtures/fake-image-registry.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const logger = pino({ level: 'silent' });
const testRedis = redisForThisFile();
let redis: Redis;
let coordinator: CoordinatorHarness;

beforeEach(async () => {
  redis = testRedis.client;
  // The last test's event readers (the quarantine's rollback of a release it marked broken) end before the store is emptied.
  await coordinator?.fleetEvents.settled();
  await redis.flushdb();
  ({ coordinator } = coordinatorOverRedis(redis, logger));
  // Six production hosts: a rollout's k is 2, and h6 is the one that was away.
  coordinator.members.add('production', ['h4', 'h5', 'h6']);
});

/** What a host runs once it deployed `tag`: the release's image pinned to its digest. */
const image = (tag: string) => pinnedImage(`${REGISTRY}/web:${tag}`);
const catchUp = (host: string, running: string | null, env = 'production') => coordinator.call('POST', '/v1/catch-ups', { role: 'web', env, host, image: running });

/** v1 everywhere, then v2 on every host but h6, which Serf had already reported gone (so not a target). */
async function v2WithoutH6(): Promise<Deploy> {
  await coordinator.publish('web', 'v1');
  await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
  await coordinator.publish('web', 'v2');
  coordinator.members.setStatus('h6', 'failed');
  const v2 = await coordinator.deploy('web', 'production', 'v2');
  await coordinator.succeedEverywhere(v2);
  return coordinator.getDeploy(v2.id);
}

describe('POST /v1/catch-ups', () => {
  it("creates a catch-up of the host to the rollout's release, with the rollout's k, a new seq and a deadline, firing no event", async () => {
    const v2 = await v2WithoutH6();
    const fired = coordinator.events.fired.length;

    const answer = await catchUp('h6', image('v1'));
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const created = answer.body as Deploy;
    expect(created).toMatchObject({ role: 'web', env: 'production', tag: 'v2', image: image('v2'), status: 'in_progress', targets: ['h6'], catchUpOf: v2.id, slots: v2.slots, expectedHosts: 1 });
    expect(created.seq).toBeGreaterThan(v2.seq!);
    expect(created.deadlineAt).toBeGreaterThan(created.createdAt);
    // Only the host that asked runs it: no other host is told.
    expect(coordinator.events.fired.length).toBe(fired);
    expect(await redis.get(redisKeys.desired('web', 'production'))).toBe('v2');
    // The API lists it, marked as a catch-up.
    const listed = await coordinator.call('GET', '/v1/deploys?role=web&env=production&limit=1');
    expect(listed.body.deploys[0]).toMatchObject({ id: created.id, catchUpOf: v2.id });
  });

  it('returns the catch-up under way when the host asks again, not a second one; a new one once that has ended', async () => {
    await v2WithoutH6();
    const first = await catchUp('h6', image('v1'));
    expect(first.status).toBe(201);
    const again = await catchUp('h6', image('v1'));
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const listed = await coordinator.call('GET', '/v1/deploys?role=web&env=production');
    expect(listed.body.deploys.filter((d: Deploy) => d.catchUpOf !== undefined)).toHaveLength(1);

    // Its host errored (a service did not answer): the next ask is a new catch-up.
    await coordinator.report(first.body.id, 'h6', 'errored', { counted: 1, remaining: 0, error: 'pull: registry did not answer' });
    expect((await coordinator.getDeploy(first.body.id)).status).toBe('partial');
    const next = await catchUp('h6', image('v1'));
    expect(next.status).toBe(201);
    expect(next.body.id).not.toBe(first.body.id);
  });

  it('answers 204 when the host runs the release already, and creates nothing', async () => {
    await v2WithoutH6();
    const answer = await catchUp('h6', image('v2'));
    expect(answer.status).toBe(204);
    const listed = await coordinator.call('GET', '/v1/deploys?role=web&env=production');
    expect(listed.body.deploys.some((d: Deploy) => d.catchUpOf !== undefined)).toBe(false);
  });

  it('refuses a broken release with 409 release_broken, naming it and why', async () => {
    await v2WithoutH6();
    expect((await coordinator.call('POST', '/v1/releases/web/v2/broken', { reason: 'leaks memory' })).status).toBe(200);
    const answer = await catchUp('h6', image('v1'));
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('release_broken');
    expect(answer.body.error.message).toMatch(/web:v2.*broken.*leaks memory/);
  });

  it('refuses while a rollout is in progress, and when the newest rollout failed', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
    await coordinator.publish('web', 'v2');
    const v2 = await coordinator.deploy('web', 'production', 'v2');
    const during = await catchUp('h6', null);
    expect(during.status).toBe(409);
    expect(during.body.error.code).toBe('rollout_in_progress');
    expect(during.body.error.message).toContain(v2.id);

    // The deadline ends it failed without breaking the release: still nothing to catch up to.
    await coordinator.watchdog(1).tick();
    expect((await coordinator.getDeploy(v2.id)).status).toBe('failed');
    const after = await catchUp('h6', image('v1'));
    expect(after.status).toBe(409);
    expect(after.body.error.code).toBe('rollout_not_succeeded');

    const never = await catchUp('h1', null, 'staging');
    expect(never.status).toBe(409);
    expect(never.body.error.code).toBe('nothing_to_catch_up');
  });

  it('a succeeded catch-up in staging promotes nothing', async () => {
    await coordinator.publish('web', 'v1');
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    await coordinator.succeedEverywhere(staging);
    const promotions = coordinator.events.fired.filter((e) => e.env === 'production').length;
    const created = await catchUp('s3', null, 'staging');
    expect(created.status).toBe(201);
    await coordinator.report(created.body.id, 's3', 'succeeded', { counted: 1, remaining: 0 });
    const ended = await coordinator.getDeploy(created.body.id);
    expect(ended.status).toBe('succeeded');
    expect(ended.promotedTo).toBeUndefined();
    expect(coordinator.events.fired.filter((e) => e.env === 'production').length).toBe(promotions);
  });

  it('rejects a body without the host or the image, naming the field', async () => {
    const answer = await coordinator.call('POST', '/v1/catch-ups', { role: 'web', env: 'production' }, { token: await coordinator.hostToken('h6') });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(/host/);
    expect(answer.body.error.message).toMatch(/image/);
  });

  it('is reachable through CoordinatorClient: a Deploy, null for nothing to do, a ConflictError for a refusal', async () => {
    const server = serve({ fetch: coordinator.app.fetch, hostname: '127.0.0.1', port: 0 });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('listening', resolve);
        server.once('error', reject);
      });
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // Each host asks with its own credential; the operator marks the release broken.
      const asHost = async (host: string) => new CoordinatorClient({ url, token: await coordinator.hostToken(host), timeoutMs: 5000 });
      const operator = new CoordinatorClient({ url, token: TOKEN, timeoutMs: 5000 });
      await v2WithoutH6();
      const h6 = await asHost('h6');
      expect(await h6.requestCatchUp({ role: 'web', env: 'production', host: 'h6', image: image('v2') })).toBeNull();
      const created = await h6.requestCatchUp({ role: 'web', env: 'production', host: 'h6', image: image('v1') });
      expect(created).toMatchObject({ tag: 'v2', targets: ['h6'] });
      await operator.markBroken('web', 'v2', { reason: 'slow' });
      const refused = (await asHost('h5')).requestCatchUp({ role: 'web', env: 'production', host: 'h5', image: image('v1') });
      await expect(refused).rejects.toBeInstanceOf(ConflictError);
      await expect(refused).rejects.toMatchObject({ code: 'release_broken' });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('after a blue/green switch back, catches a host up to the tag the live colour runs, not to the release switched away from', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
    const v2 = await coordinator.publish('web', 'v2');
    // v2 started on green while blue served v1, then the whole group switched to green.
    const targets = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
    const record = newDeployRecord({ now: coordinator.now, newId: () => 'd-bluegreen' }, v2, {
      env: 'production', targets, slots: 2, colour: 'green',
      strategy: { kind: 'blue-green', phase: 'done', steps: [], current: 0, fromColour: 'blue', fromTag: 'v1' },
    });
    const blueGreen = (await coordinator.store.createDeploy(record)) as Deploy;
    await coordinator.succeedEverywhere({ ...blueGreen, hosts: {} });
    let live: Colour = 'blue';
    const catchUps = new CatchUps({
      store: coordinator.store, membership: coordinator.members, slots: '1/3', logger, now: coordinator.now, newId: () => `d-catchup${coordinator.now()}`,
      fleetEvents: coordinator.fleetEvents, locks: new CoordinatorGroupLocks({ name: 'coordinator', logger }), liveColour: async () => live,
    });

    // Switched back: blue serves v1, so a host whose blue runs v1 is up to date, and one that runs
    // something else catches up to v1 on blue.
    expect(await catchUps.request({ role: 'web', env: 'production', host: 'h6', image: image('v1') })).toEqual({ kind: 'up_to_date' });
    const behind = await catchUps.request({ role: 'web', env: 'production', host: 'h5', image: null });
    expect(behind).toMatchObject({ kind: 'created', deploy: { tag: 'v1', image: image('v1'), colour: 'blue', catchUpOf: 'd-bluegreen', targets: ['h5'] } });

    // Switched to green again: green runs v2, the release of the rollout.
    live = 'green';
    expect(await catchUps.request({ role: 'web', env: 'production', host: 'h4', image: image('v1') })).toMatchObject({ kind: 'created', deploy: { tag: 'v2', colour: 'green' } });
  });
});
