// Host reports through the coordinator's API on an in-memory store: how they end a deploy,
// which host a failed deploy and its broken release name, and promotion, created once.
import { beforeEach, describe, expect, it } from 'vitest';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

let store: InMemoryDeployStore;
let fleet: RecordingFleet;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  fleet = new RecordingFleet();
  coordinator = new CoordinatorHarness({ store, fleet, promote: { web: { from: 'staging', to: 'production' } } });
});

const status = async (id: string, host: string, state: Parameters<CoordinatorHarness['report']>[2], extra = {}) =>
  (await coordinator.report(id, host, state, extra)).body.status;

describe('reports end a deploy', () => {
  it('succeeds once the last host counts down to zero; a late report is kept but the outcome stays', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production');
    for (const host of ['h1', 'h2', 'h3']) expect(await status(id, host, 'waiting', { counted: 3 })).toBe('in_progress');
    expect(await status(id, 'h1', 'succeeded', { counted: 3, remaining: 2 })).toBe('in_progress');
    expect(await status(id, 'h2', 'succeeded', { counted: 3, remaining: 1 })).toBe('in_progress');
    expect(await status(id, 'h3', 'succeeded', { counted: 3, remaining: 0 })).toBe('succeeded');
    const ended = await coordinator.getDeploy(id);
    expect(ended).toMatchObject({ status: 'succeeded', expectedHosts: 3, finishedAt: expect.any(Number) });
    expect(ended.reason).toBeUndefined();
    expect(await store.inProgressDeployIds(10)).toEqual([]);

    expect(await status(id, 'h1', 'failed', { error: 'late' })).toBe('succeeded');
    expect((await coordinator.getDeploy(id)).hosts.h1?.state).toBe('failed');
  });

  it('waits for a final report overtaken by the host that counted down to zero', async () => {
    coordinator.members.set(['h1', 'h2']);
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production');
    await coordinator.report(id, 'h1', 'deploying', { counted: 2, slot: 1 });
    expect(await status(id, 'h2', 'succeeded', { counted: 2, remaining: 0 })).toBe('in_progress');
    expect(await status(id, 'h1', 'succeeded', { counted: 2, remaining: 1 })).toBe('succeeded');
  });

  it('ends cancelled when hosts stood down and none failed', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production');
    await coordinator.report(id, 'h1', 'succeeded', { counted: 3, remaining: 2 });
    await coordinator.report(id, 'h2', 'cancelled', { counted: 3, remaining: 1, error: 'interrupted: lock lost' });
    expect(await status(id, 'h3', 'succeeded', { counted: 3, remaining: 0 })).toBe('cancelled');
    expect((await coordinator.getDeploy(id)).reason).toBe('host h2 stood down: interrupted: lock lost');
  });

  it('ends partial on an errored host and leaves the release deployable', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production');
    await coordinator.report(id, 'h1', 'succeeded', { counted: 3, remaining: 2 });
    await coordinator.report(id, 'h3', 'errored', { counted: 3, remaining: 1, error: 'drain: redis unreachable: connect ECONNREFUSED' });
    expect(await status(id, 'h2', 'succeeded', { counted: 3, remaining: 0 })).toBe('partial');
    expect((await coordinator.getDeploy(id)).reason).toBe('hosts errored: h3 (drain: redis unreachable: connect ECONNREFUSED)');
    expect((await store.getRelease('web', 'v1'))?.broken).toBeUndefined();
    expect(fleet.markCalls).toEqual([]);
    // The same tag can be deployed again at once.
    const again = await coordinator.deploy('web', 'production', 'v1');
    expect(again).toMatchObject({ tag: 'v1', status: 'in_progress' });
  });

  it('answers 404 to a report on an unknown deploy and stores nothing', async () => {
    const answer = await coordinator.call('POST', '/v1/deploys/d-unknown123/reports', coordinator.hostReport('h1', 'failed', { error: 'x' }));
    expect(answer).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'no deploy d-unknown123' } } });
    expect(await store.getDeploy('d-unknown123')).toBeUndefined();
    expect(fleet.markCalls).toEqual([]);
  });
});

describe('a failed deploy and its broken release name the same host', () => {
  beforeEach(() => {
    coordinator = new CoordinatorHarness({ store, fleet, members: new ListedMembers(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']) });
  });

  it('the first host to mark the fleet, even when another failure reaches the coordinator first', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    // h1 fails first and marks the fleet; h6 fails a moment later, and its report arrives first.
    fleet.markAs('h1', { role: 'web', env: 'production' }, 'v1', 'health: container exited (1)');
    await coordinator.report(id, 'h6', 'failed', { counted: 6, remaining: 5, error: 'health: timed out' });
    await coordinator.report(id, 'h1', 'failed', { counted: 6, remaining: 4, error: 'health: container exited (1)' });
    for (const [i, host] of ['h2', 'h3', 'h4', 'h5'].entries()) {
      await coordinator.report(id, host, 'cancelled', { counted: 6, remaining: 3 - i, error: 'release marked broken' });
    }

    const ended = await coordinator.getDeploy(id);
    expect(ended).toMatchObject({ status: 'failed', reason: 'host h1 failed: health: container exited (1) (and 1 more hosts failed)' });
    const release = await store.getRelease('web', 'v1');
    expect(release?.broken).toEqual({ reason: 'host h1 failed: health: container exited (1)', by: 'h1', at: expect.any(Number) });
    const refused = await coordinator.call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('host h1 failed: health: container exited (1)');
  });

  it('the failed report itself when no host marked the fleet, and not the alphabetically first', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(id, 'h6', 'failed', { counted: 6, remaining: 5, error: 'pull: manifest unknown' });
    await coordinator.report(id, 'h1', 'failed', { counted: 6, remaining: 4, error: 'pull: manifest unknown' });
    for (const [i, host] of ['h2', 'h3', 'h4', 'h5'].entries()) await coordinator.report(id, host, 'cancelled', { counted: 6, remaining: 3 - i });

    expect((await coordinator.getDeploy(id)).reason).toBe('host h6 failed: pull: manifest unknown (and 1 more hosts failed)');
    expect((await store.getRelease('web', 'v1'))?.broken).toMatchObject({ by: 'h6', reason: 'host h6 failed: pull: manifest unknown' });
    // Both failures told the fleet, each time of the same first failure.
    expect(fleet.markCalls.map(({ reason, by }) => `${by}: ${reason}`)).toEqual(['h6: pull: manifest unknown', 'h6: pull: manifest unknown']);
  });

  it('a fleet mark set by the coordinator itself names no host: the report does', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await fleet.markBroken({ role: 'web', env: 'production' }, 'v1', 'up: no such image');
    await coordinator.report(id, 'h4', 'failed', { counted: 6, remaining: 5, error: 'up: no such image' });
    expect((await store.getRelease('web', 'v1'))?.broken).toMatchObject({ by: 'h4', reason: 'host h4 failed: up: no such image' });
  });

  it('stops the rollout in the other environments, with the fleet mark kept where a host set it first', async () => {
    coordinator.members.add('staging', ['s1', 's2']);
    await coordinator.publish('web', 'v1');
    await coordinator.deploy('web', 'production', 'v1');
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    fleet.markAs('s2', { role: 'web', env: 'staging' }, 'v1', 'health: exited (2)');
    await coordinator.report(staging.id, 's1', 'failed', { counted: 2, remaining: 1, error: 'health: exited (1)' });
    expect(fleet.markOf('staging', 'v1')).toMatchObject({ by: 's2', reason: 'health: exited (2)' });
    expect(fleet.markOf('production', 'v1')).toMatchObject({ by: 's2', reason: 'health: exited (2)' });
    expect((await store.getRelease('web', 'v1'))?.broken).toMatchObject({ by: 's2' });
  });

  it('keeps the report and answers 200 when the other environments cannot be told', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    store.failures.set('envsOfRole', new Error('boom'));
    expect(await status(id, 'h1', 'failed', { counted: 6, remaining: 5, error: 'x' })).toBe('in_progress');
    expect((await store.getRelease('web', 'v1'))?.broken).toMatchObject({ by: 'h1' });
  });
});

describe('staging first', () => {
  beforeEach(() => {
    coordinator.members.list.clear();
    coordinator.members.add('production', ['h1', 'h2', 'h3']);
    coordinator.members.add('staging', ['s1', 's2', 's3']);
  });

  it('promotes a succeeded staging deploy exactly once, even when reports race', async () => {
    await coordinator.publish('web', 'v1');
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    await coordinator.report(staging.id, 's1', 'succeeded', { counted: 3, remaining: 2 });
    await coordinator.report(staging.id, 's2', 'succeeded', { counted: 3, remaining: 1 });
    const answers = await Promise.all([
      coordinator.report(staging.id, 's3', 'succeeded', { counted: 3, remaining: 0 }),
      coordinator.report(staging.id, 's3', 'succeeded', { counted: 3, remaining: 0 }),
      coordinator.report(staging.id, 's2', 'succeeded', { counted: 3, remaining: 1 }),
    ]);
    expect(answers.map((a) => a.body.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const toProduction = coordinator.events.fired.filter((e) => e.env === 'production');
    expect(toProduction).toHaveLength(1);
    const promoted = await coordinator.getDeploy(toProduction[0]!.id);
    expect(promoted).toMatchObject({ env: 'production', tag: 'v1', status: 'in_progress', promotedFrom: staging.id, targets: ['h1', 'h2', 'h3'] });
    expect(await coordinator.getDeploy(staging.id)).toMatchObject({ promotedTo: promoted.id });
  });

  it('promotes nothing from a failed staging deploy or a production deploy', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    await coordinator.report(staging.id, 's1', 'failed', { counted: 3, remaining: 2, error: 'health: timed out' });
    await coordinator.report(staging.id, 's2', 'cancelled', { counted: 3, remaining: 1 });
    expect(await status(staging.id, 's3', 'cancelled', { counted: 3, remaining: 0 })).toBe('failed');
    expect(coordinator.events.fired.map((e) => e.env)).toEqual(['production', 'staging']);
    expect((await coordinator.getDeploy(staging.id)).promotion).toBeUndefined();
  });

  it('records a promotion that cannot be made on the deploy, and one whose claim fails', async () => {
    await coordinator.publish('web', 'v2');
    const staging = await coordinator.deploy('web', 'staging', 'v2');
    await coordinator.report(staging.id, 's1', 'succeeded', { counted: 3, remaining: 2 });
    await coordinator.report(staging.id, 's2', 'succeeded', { counted: 3, remaining: 1 });
    await coordinator.call('POST', '/v1/releases/web/v2/broken', { reason: 'bad migration' });
    expect(await status(staging.id, 's3', 'succeeded', { counted: 3, remaining: 0 })).toBe('succeeded');
    const record = await coordinator.getDeploy(staging.id);
    expect(record.promotedTo).toBeUndefined();
    expect(record.promotion?.error).toMatch(/^promotion to production failed: release web:v2 is marked broken \(bad migration\)/);

    await coordinator.publish('web', 'v3');
    const next = await coordinator.deploy('web', 'staging', 'v3');
    store.failures.set('claimPromotion', new Error('claim refused'));
    await coordinator.succeedEverywhere(next);
    expect((await coordinator.getDeploy(next.id)).promotion).toEqual({ error: 'could not claim the promotion: claim refused' });
    expect(coordinator.events.fired.filter((e) => e.env === 'production')).toEqual([]);
  });
});
