// Deploys through the coordinator's API on an in-memory store: creation and its one event,
// refusals, listing, rollback's choice, and mark-broken stopping rollouts everywhere.
import { beforeEach, describe, expect, it } from 'vitest';
import { deployId } from '../../shared/contract/names.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, REGISTRY } from '../fixtures/coordinator-harness.js';
import { pinnedImage } from '../fixtures/fake-image-registry.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

let store: InMemoryDeployStore;
let fleet: RecordingFleet;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  fleet = new RecordingFleet();
  coordinator = new CoordinatorHarness({ store, fleet });
});

const call = (...args: Parameters<CoordinatorHarness['call']>) => coordinator.call(...args);

describe('creating a deploy', () => {
  it('stores it with its targets, sets the desired tag and fires exactly one event without the tag', async () => {
    await coordinator.publish('web', 'v1');
    const created = await coordinator.deploy('web', 'production', 'v1');
    expect(deployId.safeParse(created.id).success).toBe(true);
    expect(created).toEqual({
      id: created.id,
      role: 'web',
      env: 'production',
      tag: 'v1',
      // What hosts run: the release's image pinned to the digest it was published with.
      image: pinnedImage(`${REGISTRY}/web:v1`),
      status: 'in_progress',
      createdAt: expect.any(Number),
      // The coordinator's deadline (30 min unless configured), for agents that keep an unsent report.
      deadlineAt: created.createdAt + 30 * 60_000,
      // The first deploy of web in production.
      seq: 1,
      expectedHosts: 3,
      // k = ceil(3/3): fixed here, once, for every host of the deploy.
      slots: 1,
      targets: ['h1', 'h2', 'h3'],
      // Who asked: the bootstrap operator of the coordinator's config.
      startedBy: 'operator bootstrap (config)',
      hosts: {},
    });
    expect(coordinator.events.fired).toEqual([{ v: 1, role: 'web', env: 'production', id: created.id }]);
    expect(await store.getDesiredTag('web', 'production')).toBe('v1');
    expect(await call('GET', `/v1/deploys/${created.id}`)).toEqual({ status: 200, body: created });
  });

  it('deploys the newest release when no tag is given', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.publish('web', 'v2');
    expect((await coordinator.deploy('web', 'staging')).tag).toBe('v2');
    expect(await store.getDesiredTag('web', 'staging')).toBe('v2');
  });

  it('refuses an unpublished role or tag with 404 release_not_found, storing and firing nothing', async () => {
    const none = await call('POST', '/v1/deploys', { role: 'web', env: 'production' });
    expect(none.status).toBe(404);
    expect(none.body.error).toEqual({ code: 'release_not_found', message: 'role web has no published release' });
    await coordinator.publish('web', 'v1');
    const unknown = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v9' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toEqual({ code: 'release_not_found', message: 'role web has no release v9; publish it first' });
    expect(coordinator.events.fired).toEqual([]);
    expect(await store.listDeploys({ limit: 10 })).toEqual([]);
  });

  it('refuses a broken release with 409 release_broken naming why', async () => {
    await coordinator.publish('web', 'v1');
    await call('POST', '/v1/releases/web/v1/broken', { reason: 'logins fail' });
    const refused = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('release_broken');
    expect(refused.body.error.message).toContain('logins fail');
    expect(coordinator.events.fired).toEqual([]);
  });

  it('refuses with 409 no_hosts when no alive host has the role there, storing and firing nothing', async () => {
    await coordinator.publish('web', 'v1');
    coordinator.members.add('qa', ['q1'], 'api');
    coordinator.members.add('qa', ['q2'], 'web');
    coordinator.members.setStatus('q2', 'failed');
    const refused = await call('POST', '/v1/deploys', { role: 'web', env: 'qa', tag: 'v1' });
    expect(refused).toEqual({ status: 409, body: { error: { code: 'no_hosts', message: 'no alive host has role web in environment qa' } } });
    expect(coordinator.events.fired).toEqual([]);
    expect(await store.listDeploys({ limit: 10 })).toEqual([]);
  });

  it('answers 502 naming Serf when the hosts cannot be listed, storing nothing', async () => {
    await coordinator.publish('web', 'v1');
    coordinator.members.failWith = 'serf members: connection refused';
    const answer = await call('POST', '/v1/deploys', { role: 'web', env: 'production' });
    expect(answer.status).toBe(502);
    expect(answer.body.error).toEqual({ code: 'unreachable', message: 'cannot list the hosts of role web in production: serf members: connection refused' });
    expect(coordinator.events.fired).toEqual([]);
    expect(await store.listDeploys({ limit: 10 })).toEqual([]);
  });

  it('answers 502 and fails the stored deploy when the event cannot be fired', async () => {
    await coordinator.publish('web', 'v1');
    coordinator.events.failWith = 'serf agent not running';
    const answer = await call('POST', '/v1/deploys', { role: 'web', env: 'production' });
    expect(answer.status).toBe(502);
    expect(answer.body.error.code).toBe('unreachable');
    expect(answer.body.error.message).toMatch(/^deploy d-\w+ failed: could not fire the deploy event: serf agent not running$/);
    const [stored] = await store.listDeploys({ limit: 10 });
    expect(stored).toMatchObject({ status: 'failed', reason: 'could not fire the deploy event: serf agent not running', finishedAt: expect.any(Number) });
    expect(await store.inProgressDeployIds(10)).toEqual([]);
  });
});

describe('reading deploys', () => {
  it('lists newest first, filtered by role and environment, and 404s an unknown id', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.publish('api', 'v1');
    const webProd = await coordinator.deploy('web', 'production');
    const webStaging = await coordinator.deploy('web', 'staging');
    const apiProd = await coordinator.deploy('api', 'production');
    const ids = async (query: string) => ((await call('GET', `/v1/deploys${query}`)).body.deploys as Deploy[]).map((d) => d.id);
    expect(await ids('')).toEqual([apiProd.id, webStaging.id, webProd.id]);
    expect(await ids('?role=web')).toEqual([webStaging.id, webProd.id]);
    expect(await ids('?env=production')).toEqual([apiProd.id, webProd.id]);
    expect(await ids('?role=web&env=staging')).toEqual([webStaging.id]);
    expect(await ids('?limit=1')).toEqual([apiProd.id]);
    expect(await ids('?role=&env=')).toEqual([apiProd.id, webStaging.id, webProd.id]);
    expect(await ids('?role=db')).toEqual([]);
    const unknown = await call('GET', '/v1/deploys/d-unknown123');
    expect(unknown).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'no deploy d-unknown123' } } });
  });
});

describe('rollback', () => {
  async function succeeded(tag: string, env = 'production'): Promise<void> {
    if (!(await store.getRelease('web', tag))) await coordinator.publish('web', tag);
    await coordinator.succeedEverywhere(await coordinator.deploy('web', env, tag));
  }

  it('goes back to the newest tag that succeeded there, is not broken and is not wanted now', async () => {
    await succeeded('v1');
    await succeeded('v2');
    await succeeded('v3');
    await call('POST', '/v1/releases/web/v2/broken', { reason: 'corrupts sessions' });
    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({ tag: 'v1', rollbackOf: 'v3', status: 'in_progress', targets: ['h1', 'h2', 'h3'] });
    expect(coordinator.events.fired.at(-1)).toEqual({ v: 1, role: 'web', env: 'production', id: answer.body.id });
    expect(await store.getDesiredTag('web', 'production')).toBe('v1');
  });

  it('goes back from a tag whose deploy is still failing to the one that last succeeded', async () => {
    await succeeded('v1');
    await coordinator.publish('web', 'v2');
    const bad = await coordinator.deploy('web', 'production', 'v2');
    await coordinator.report(bad.id, 'h1', 'failed', { counted: 3, remaining: 2, error: 'pull: manifest unknown' });
    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.body).toMatchObject({ tag: 'v1', rollbackOf: 'v2' });
  });

  it('answers 409 nothing_to_roll_back when never deployed, or when only another environment has a good release', async () => {
    const never = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(never.status).toBe(409);
    expect(never.body.error).toEqual({ code: 'nothing_to_roll_back', message: 'role web was never deployed to production; there is nothing to roll back' });

    await succeeded('v1');
    coordinator.members.add('qa', ['q1']);
    await succeeded('v2', 'qa');
    const fired = coordinator.events.fired.length;
    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('nothing_to_roll_back');
    expect(answer.body.error.message).toMatch(/web.*production wants v1/);
    expect(coordinator.events.fired.length).toBe(fired);
  });
});

describe('mark-broken', () => {
  it('stops the rollouts of the tag in every environment the role was deployed to, and only there', async () => {
    coordinator = new CoordinatorHarness({ store, fleet, members: new ListedMembers(['h1']) });
    await coordinator.publish('web', 'v1');
    await coordinator.deploy('web', 'production', 'v1');
    await coordinator.deploy('web', 'staging', 'v1');
    const marked = await call('POST', '/v1/releases/web/v1/broken', { reason: 'logins fail' });
    expect(marked.status).toBe(200);
    const by = 'operator bootstrap (config)';
    expect(marked.body).toMatchObject({ role: 'web', tag: 'v1', broken: { reason: 'logins fail', by } });
    expect(fleet.markCalls).toEqual([
      { group: { role: 'web', env: 'production' }, tag: 'v1', reason: 'logins fail', by },
      { group: { role: 'web', env: 'staging' }, tag: 'v1', reason: 'logins fail', by },
    ]);
  });

  it("records the credential's actor, never a `by` in the body, and marks no fleet of a role never deployed", async () => {
    await coordinator.publish('web', 'v1');
    const operator = await coordinator.credentials.create({ scope: 'operator', name: 'alice', createdBy: 'test' });
    // An older client still sends `by`: it is ignored.
    const marked = await call('POST', '/v1/releases/web/v1/broken', { reason: 'slow', by: 'release-bot' }, { token: operator.token });
    expect(marked.status).toBe(200);
    expect(marked.body.broken).toMatchObject({ reason: 'slow', by: `operator alice (${operator.credential.id})` });
    expect(fleet.markCalls).toEqual([]);
  });

  it('answers 502 when the fleet cannot be marked, the release mark kept', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.deploy('web', 'production', 'v1');
    fleet.failWith = 'marking the release broken: Redis did not answer';
    const answer = await call('POST', '/v1/releases/web/v1/broken', { reason: 'slow' });
    expect(answer.status).toBe(502);
    expect(answer.body.error.message).toBe('marking the release broken: Redis did not answer');
    expect((await store.getRelease('web', 'v1'))?.broken?.reason).toBe('slow');
  });
});

describe('the slots of a deploy', () => {
  it('are a third of its targets, rounded up, or what the coordinator is configured with', async () => {
    const members = new ListedMembers();
    members.add('production', ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7']);
    const third = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet: new RecordingFleet(), members });
    await third.publish('web', 'v1');
    expect((await third.deploy('web', 'production', 'v1')).slots).toBe(3);
    const quarter = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet: new RecordingFleet(), members, slots: '0.25' });
    await quarter.publish('web', 'v1');
    expect((await quarter.deploy('web', 'production', 'v1')).slots).toBe(2);
  });
});
