// Freezing a group through the coordinator's API on an in-memory store: who may freeze,
// what a bad body is told, new deploys and rollbacks refused unless an operator forces
// them, a promotion into a frozen group failing as a promotion does, the watchdog parking
// a frozen group's deploy past its deadline, and the time frozen given back on unfreeze.
import { beforeEach, describe, expect, it } from 'vitest';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

let store: InMemoryDeployStore;
let fleet: RecordingFleet;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  coordinator = undefined as unknown as CoordinatorHarness;
  // The fleet reads the harness's clock, so a freeze's `until` lapses by the same time the API checks it by.
  fleet = new RecordingFleet('coordinator', () => coordinator.clock);
  const members = new ListedMembers(['h1', 'h2', 'h3']);
  coordinator = new CoordinatorHarness({ store, fleet, members, promote: { web: { from: 'staging', to: 'production' } } });
});

const call = (...args: Parameters<CoordinatorHarness['call']>) => coordinator.call(...args);
const FREEZE = '/v1/groups/web/production/freeze';

describe('freezing a group', () => {
  it('an operator freezes with a reason, anyone who reads sees it, and unfreezing ends it (404 once it is gone)', async () => {
    const frozen = await call('POST', FREEZE, { reason: 'release train' });
    expect(frozen.status).toBe(201);
    expect(frozen.body).toEqual({ frozen: { reason: 'release train', by: 'operator bootstrap (config)', at: expect.any(Number) } });
    const viewer = await coordinator.tokenOf('viewer');
    expect(await call('GET', FREEZE, undefined, { token: viewer })).toEqual({ status: 200, body: frozen.body });
    expect(await call('GET', '/v1/groups/web/staging/freeze', undefined, { token: viewer })).toEqual({ status: 200, body: { frozen: null } });
    expect(coordinator.published.filter((event) => event.kind === 'group.frozen')).toEqual([
      { kind: 'group.frozen', at: frozen.body.frozen.at, actor: 'operator bootstrap (config)', role: 'web', env: 'production', reason: 'release train' },
    ]);

    const unfrozen = await call('DELETE', FREEZE);
    expect(unfrozen.status).toBe(200);
    expect(unfrozen.body).toMatchObject({ unfrozen: frozen.body.frozen, extended: [] });
    expect(coordinator.published.at(-1)).toMatchObject({ kind: 'group.unfrozen', role: 'web', env: 'production', reason: 'release train' });
    expect((await call('GET', FREEZE)).body).toEqual({ frozen: null });
    const again = await call('DELETE', FREEZE);
    expect(again.status).toBe(404);
    expect(again.body.error.message).toBe('web/production is not frozen');
  });

  it('only an operator freezes or unfreezes', async () => {
    const deployer = await coordinator.tokenOf('deployer');
    const viewer = await coordinator.tokenOf('viewer');
    expect((await call('POST', FREEZE, { reason: 'x' }, { token: deployer })).status).toBe(403);
    expect((await call('POST', FREEZE, { reason: 'x' }, { token: viewer })).status).toBe(403);
    await call('POST', FREEZE, { reason: 'x' });
    expect((await call('DELETE', FREEZE, undefined, { token: deployer })).status).toBe(403);
    expect(await fleet.frozen({ role: 'web', env: 'production' })).not.toBeNull();
  });

  it.each([
    [{}, /reason/],
    [{ reason: '' }, /reason must not be empty/],
    [{ reason: 'x'.repeat(501) }, /reason must be at most 500 characters/],
    [{ reason: 'x', until: 'tomorrow' }, /until/],
  ])('a bad body %j is refused with a 400 naming the field', async (body, message) => {
    const answer = await call('POST', FREEZE, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(message);
    expect(fleet.freezes.size).toBe(0);
  });

  it('an until in the past or more than 7 days ahead is refused; one within is kept on the mark', async () => {
    const past = await call('POST', FREEZE, { reason: 'x', until: coordinator.clock - 60_000 });
    expect(past.status).toBe(400);
    expect(past.body.error.message).toMatch(/^until must be in the future/);
    const far = await call('POST', FREEZE, { reason: 'x', until: coordinator.clock + 8 * 24 * 3_600_000 });
    expect(far.status).toBe(400);
    expect(far.body.error.message).toMatch(/^until must be at most 7 days ahead/);
    const until = coordinator.clock + 2 * 3_600_000;
    const kept = await call('POST', FREEZE, { reason: 'x', until });
    expect(kept.status).toBe(201);
    expect(kept.body.frozen.until).toBe(until);
  });
});

describe('new deploys of a frozen group', () => {
  beforeEach(async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.publish('web', 'v2');
  });

  it('are refused with group_frozen naming the reason, who and until; other groups deploy as before', async () => {
    const until = coordinator.clock + 3_600_000;
    await call('POST', FREEZE, { reason: 'release train', until });
    const refused = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('group_frozen');
    expect(refused.body.error.message).toBe(
      `web/production is frozen: "release train" (by operator bootstrap (config), until ${new Date(until).toISOString()}); unfreeze it, or an operator may force a deploy with --force`,
    );
    expect(coordinator.events.fired).toEqual([]);
    expect(await store.listDeploys({ role: 'web', env: 'production', limit: 10 })).toEqual([]);
    expect((await coordinator.deploy('web', 'staging', 'v2')).env).toBe('staging');
  });

  it("an operator's force deploys anyway; a deployer's force is refused naming the scope", async () => {
    await call('POST', FREEZE, { reason: 'incident' });
    const deployer = await coordinator.tokenOf('deployer');
    const byDeployer = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2', force: true }, { token: deployer });
    expect(byDeployer.status).toBe(403);
    expect(byDeployer.body.error.message).toMatch(/forcing a deploy past a freeze needs the operator scope; this credential is deployer$/);
    const byOperator = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2', force: true });
    expect(byOperator.status).toBe(201);
    expect(byOperator.body).toMatchObject({ tag: 'v2', status: 'in_progress' });
    expect(coordinator.events.fired).toHaveLength(1);
  });

  it('a rollback is a deploy too: refused unless an operator forces it', async () => {
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v2'));
    await call('POST', FREEZE, { reason: 'incident' });
    const refused = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('group_frozen');
    const forced = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production', force: true });
    expect(forced.status).toBe(201);
    expect(forced.body).toMatchObject({ tag: 'v1', rollbackOf: 'v2' });
  });

  it('a promotion into a frozen group fails as a promotion does: the staging deploy succeeds, promotion.failed names the freeze', async () => {
    await call('POST', FREEZE, { reason: 'release train' });
    const staging = await coordinator.deploy('web', 'staging', 'v2');
    await coordinator.succeedEverywhere(staging);
    const failed = coordinator.published.find((event) => event.kind === 'promotion.failed');
    expect(failed).toMatchObject({ kind: 'promotion.failed', to: 'production', deploy: { id: staging.id } });
    expect(failed && 'error' in failed ? failed.error : '').toMatch(/web\/production is frozen: "release train"/);
    expect(await store.listDeploys({ role: 'web', env: 'production', limit: 10 })).toEqual([]);
  });
});

describe('a deploy in a frozen group', () => {
  it('is parked, not ended, by the watchdog past its deadline, and gets its frozen time back on unfreeze', async () => {
    await coordinator.publish('web', 'v2');
    const watchdog = coordinator.watchdog(60_000);
    const deploy = await coordinator.deploy('web', 'production', 'v2');
    await call('POST', FREEZE, { reason: 'release train' });
    coordinator.clock += 120_000;
    expect((await watchdog.tick()).timedOut).toEqual([]);
    expect((await coordinator.getDeploy(deploy.id)).status).toBe('in_progress');
    expect(fleet.stopped.size).toBe(0);

    const unfrozen = await call('DELETE', FREEZE);
    expect(unfrozen.body.extended).toEqual([deploy.id]);
    const frozenMs: number = unfrozen.body.frozenMs;
    expect(frozenMs).toBeGreaterThanOrEqual(120_000);
    const after = await coordinator.getDeploy(deploy.id);
    expect(after.frozenMs).toBe(frozenMs);
    expect(after.deadlineAt).toBe((deploy.deadlineAt ?? 0) + after.frozenMs!);
    // Its minute back: the next tick leaves it alone, and once that minute is gone it ends as any deploy past its deadline.
    expect((await watchdog.tick()).timedOut).toEqual([]);
    coordinator.clock += frozenMs;
    expect((await watchdog.tick()).timedOut).toEqual([deploy.id]);
    expect((await coordinator.getDeploy(deploy.id)).status).toBe('failed');
  });

  it('a freeze that lapses by itself gives the parked deploy its frozen time back too, so it is not ended at once', async () => {
    await coordinator.publish('web', 'v2');
    const watchdog = coordinator.watchdog(60_000);
    const deploy = await coordinator.deploy('web', 'production', 'v2');
    const frozen = await call('POST', FREEZE, { reason: 'lunch', until: coordinator.clock + 90_000 });
    coordinator.clock += 80_000;
    expect((await watchdog.tick()).timedOut).toEqual([]);
    coordinator.clock += 20_000;
    expect(await fleet.frozen({ role: 'web', env: 'production' })).toBeNull();
    expect((await watchdog.tick()).timedOut).toEqual([]);
    const after = await coordinator.getDeploy(deploy.id);
    expect(after.status).toBe('in_progress');
    expect(after.frozenMs).toBe(frozen.body.frozen.until - frozen.body.frozen.at);
  });
});
