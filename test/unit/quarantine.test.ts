// Quarantine after the fact (coordinator/strategies/quarantine.ts) through the coordinator's API
// on an in-memory store: a release marked broken after it finished sends the hosts still on it
// back to the newest tag each ran that is not broken, in a rollback deploy of just those hosts.
import { beforeEach, describe, expect, it } from 'vitest';
import type { Deploy } from '../../shared/contract/schemas.js';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
let coordinator: CoordinatorHarness;

beforeEach(() => {
  coordinator = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet: new RecordingFleet(), members: new ListedMembers(HOSTS) });
});

async function quarantines(): Promise<Deploy[]> {
  await coordinator.fleetEvents.settled();
  const deploys = (await coordinator.call('GET', '/v1/deploys?role=web&env=production')).body as { deploys: Deploy[] };
  return deploys.deploys.filter((deploy) => deploy.startedBy === 'coordinator' && deploy.rollbackOf !== undefined);
}

async function markBroken(tag: string): Promise<void> {
  const answer = await coordinator.call('POST', `/v1/releases/web/${tag}/broken`, { reason: 'found bad after its deploy' }, { token: await coordinator.tokenOf('operator') });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
}

describe('quarantine', () => {
  beforeEach(async () => {
    for (const tag of ['v1', 'v2', 'v3']) await coordinator.publish('web', tag);
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
  });

  it('rolls every host that finished a release marked broken back to the tag it ran before, with the group k', async () => {
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v2'));
    await markBroken('v2');
    const [rollback] = await quarantines();
    expect(rollback).toMatchObject({ tag: 'v1', rollbackOf: 'v2', targets: HOSTS, slots: 2, runJob: false, status: 'in_progress' });
    expect(coordinator.events.fired.at(-1)).toEqual({ v: 1, role: 'web', env: 'production', id: rollback?.id });
  });

  it('skips a tag that is broken too, and leaves hosts that moved on from the broken tag alone', async () => {
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v2'));
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v3'));
    await markBroken('v2');
    expect(await quarantines()).toEqual([]);
    await markBroken('v3');
    const [rollback] = await quarantines();
    expect(rollback).toMatchObject({ tag: 'v1', rollbackOf: 'v3', targets: HOSTS });
  });

  it('waits for a deploy of the group under way and quarantines once it ends', async () => {
    const v2 = await coordinator.deploy('web', 'production', 'v2');
    await coordinator.report(v2.id, 'h1', 'succeeded', { counted: 6, remaining: 5 });
    await markBroken('v2');
    expect(await quarantines()).toEqual([]);
    for (const [i, host] of HOSTS.slice(1).entries()) await coordinator.report(v2.id, host, 'cancelled', { counted: 6, remaining: 4 - i, error: 'release v2 is broken' });
    const [rollback] = await quarantines();
    expect(rollback).toMatchObject({ tag: 'v1', rollbackOf: 'v2', targets: ['h1'], slots: 1 });
  });

  it('leaves a group alone when no host runs the broken tag', async () => {
    await markBroken('v3');
    expect(await quarantines()).toEqual([]);
  });
});
