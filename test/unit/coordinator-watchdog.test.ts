// The watchdog on an in-memory store with a stand-in member list: hosts Serf reports gone
// are counted out through the same report path as agents' reports, and deploys past their
// deadline fail.
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DeployWatchdog } from '../../coordinator/watchdog.js';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

const DEADLINE_MS = 10 * 60_000;
const group = { role: 'web', env: 'production' };

let store: InMemoryDeployStore;
let fleet: RecordingFleet;
let coordinator: CoordinatorHarness;
let watchdog: DeployWatchdog;

beforeEach(async () => {
  store = new InMemoryDeployStore();
  coordinator = new CoordinatorHarness({ store, fleet: (fleet = new RecordingFleet()) });
  watchdog = coordinator.watchdog(DEADLINE_MS);
  await coordinator.publish('web', 'v1');
});

describe('lost hosts', () => {
  it('counts out a failed host: the counter decremented, a lost report kept with its last steps', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await fleet.initRemaining(group, id, 3);
    await coordinator.report(id, 'h1', 'deploying', { counted: 3, slot: 1, steps: [{ step: 'received', at: 1 }, { step: 'slot', at: 2 }] });
    coordinator.members.setStatus('h1', 'failed');

    expect(await watchdog.tick()).toEqual({ checked: 1, lost: [`${id}/h1`], timedOut: [] });
    const lost = (await coordinator.getDeploy(id)).hosts.h1;
    expect(lost).toMatchObject({ state: 'lost', error: 'Serf reports the host failed', slot: 1, counted: 3, remaining: 2, endedAt: expect.any(Number) });
    expect(lost?.steps.map((s) => s.step)).toEqual(['received', 'slot']);
    expect((await watchdog.tick()).lost).toEqual([]);

    await coordinator.report(id, 'h2', 'succeeded', { counted: 3, remaining: await fleet.finishHost(group, id, 'h2') });
    expect((await coordinator.report(id, 'h3', 'succeeded', { counted: 3, remaining: await fleet.finishHost(group, id, 'h3') })).body).toEqual({ status: 'partial' });
    expect(await coordinator.getDeploy(id)).toMatchObject({ status: 'partial', reason: 'hosts lost: h1' });
  });

  it('a lost slot holder keeps counting against k: it stays out of service, its deploy is not stopped, and the log says so', async () => {
    const logs: Array<{ msg: string; host?: string; outOfService?: boolean }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
    coordinator = new CoordinatorHarness({ store: (store = new InMemoryDeployStore()), fleet: (fleet = new RecordingFleet()), logger });
    watchdog = coordinator.watchdog(DEADLINE_MS);
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await fleet.initRemaining(group, id, 3);
    await coordinator.report(id, 'h1', 'deploying', { counted: 3, slot: 1, steps: [{ step: 'received', at: 1 }, { step: 'slot', at: 2 }, { step: 'drain', at: 3 }] });
    fleet.outOfService.add('web/production/h1');
    coordinator.members.setStatus('h1', 'failed');

    expect((await watchdog.tick()).lost).toEqual([`${id}/h1`]);
    expect(fleet.stopped.size).toBe(0);
    // Nothing the watchdog does puts a dead host back in the count of hosts that serve.
    expect(await fleet.isOutOfService(group, 'h1')).toBe(true);
    expect(logs.find((line) => line.host === 'h1' && line.outOfService === true)?.msg).toBe('host lost; counted out of the deploy; it counts against k until it serves again');
    expect((await watchdog.tick()).lost).toEqual([]);
    expect(await fleet.isOutOfService(group, 'h1')).toBe(true);
  });

  it('ends the deploy itself when the last hosts are lost or no longer listed, counting from the targets when no agent did', async () => {
    // Six targets, so three gone are not most of them: the watchdog judges them.
    coordinator.members.add('production', ['h4', 'h5', 'h6']);
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    coordinator.members.list.delete('h1');
    expect((await watchdog.tick()).lost).toEqual([`${id}/h1`]);
    for (const host of ['h4', 'h5', 'h6']) await coordinator.report(id, host, 'succeeded', { counted: 6, remaining: await fleet.finishHost(group, id, host) });
    coordinator.members.setStatus('h2', 'left');
    coordinator.members.list.delete('h3');
    coordinator.members.add('production', ['h9']);

    expect((await watchdog.tick()).lost.sort()).toEqual([`${id}/h2`, `${id}/h3`]);
    const ended = await coordinator.getDeploy(id);
    expect(ended).toMatchObject({ status: 'partial', reason: 'hosts lost: h1, h2, h3' });
    expect(ended.hosts.h1).toMatchObject({ state: 'lost', error: 'Serf no longer lists the host', steps: [], remaining: 5 });
    expect(ended.hosts.h2).toMatchObject({ state: 'lost', error: 'Serf reports the host left' });
    expect(ended.hosts.h3).toMatchObject({ state: 'lost', error: 'Serf no longer lists the host', steps: [] });
    expect(await store.inProgressDeployIds(10)).toEqual([]);
  });

  it('does not overwrite the end a host reported itself', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(id, 'h1', 'succeeded', { counted: 3, remaining: 2 });
    coordinator.members.setStatus('h1', 'failed');
    expect((await watchdog.tick()).lost).toEqual([]);
    expect((await coordinator.getDeploy(id)).hosts.h1?.state).toBe('succeeded');
    // The store holds back a lost report that comes too late, whoever sends it.
    expect(await store.applyLostReport(id, { host: 'h1', state: 'lost', steps: [] })).toMatchObject({ applied: false });
  });

  it('ends a deploy with a failed host as failed, naming the host that failed first', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await fleet.initRemaining(group, id, 3);
    fleet.markAs('h3', group, 'v1', 'health: exited (1)');
    await coordinator.report(id, 'h2', 'failed', { counted: 3, remaining: await fleet.finishHost(group, id, 'h2'), error: 'health: exited (2)' });
    await coordinator.report(id, 'h3', 'failed', { counted: 3, remaining: await fleet.finishHost(group, id, 'h3'), error: 'health: exited (1)' });
    coordinator.members.setStatus('h1', 'failed');
    expect((await watchdog.tick()).lost).toEqual([`${id}/h1`]);
    expect(await coordinator.getDeploy(id)).toMatchObject({ status: 'failed', reason: 'host h3 failed: health: exited (1) (and 1 more hosts failed)' });
  });

  it('declares nobody lost while Serf cannot be asked or lists nobody, and keeps ticking', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    coordinator.members.setStatus('h1', 'failed');
    coordinator.members.failWith = 'serf agent not running';
    expect(await watchdog.tick()).toEqual({ checked: 1, lost: [], timedOut: [] });
    coordinator.members.failWith = undefined;
    const everyone = [...coordinator.members.list.values()];
    coordinator.members.list.clear();
    expect((await watchdog.tick()).lost).toEqual([]);
    for (const member of everyone) coordinator.members.list.set(member.name, member);
    expect((await coordinator.getDeploy(id)).hosts).toEqual({});
    expect((await watchdog.tick()).lost).toEqual([`${id}/h1`]);
  });
});

describe('a coordinator cut off from the fleet', () => {
  let logs: Array<{ msg: string }>;
  beforeEach(async () => {
    logs = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
    store = new InMemoryDeployStore();
    coordinator = new CoordinatorHarness({ store, fleet: (fleet = new RecordingFleet()), logger });
    watchdog = coordinator.watchdog(DEADLINE_MS);
    await coordinator.publish('web', 'v1');
  });

  it('calls no host lost while most members are unreachable at once, logs it once, and judges again once they are back', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    for (const host of ['h1', 'h2', 'h1s', 'h2s']) coordinator.members.setStatus(host, 'failed');
    expect((await watchdog.tick()).lost).toEqual([]);
    expect((await watchdog.tick()).lost).toEqual([]);
    expect(logs.filter((line) => /looks cut off/.test(line.msg))).toHaveLength(1);
    expect((await coordinator.getDeploy(id)).hosts).toEqual({});

    for (const host of ['h2', 'h1s', 'h2s']) coordinator.members.setStatus(host, 'alive');
    expect((await watchdog.tick()).lost).toEqual([`${id}/h1`]);
  });

  it("holds its judgement of a deploy while most of its targets are unreachable or unlisted, as after a restart that joined nobody yet", async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    coordinator.members.list.delete('h1');
    coordinator.members.list.delete('h2');
    expect(await watchdog.tick()).toEqual({ checked: 1, lost: [], timedOut: [] });
    expect(logs.filter((line) => /holding judgement/.test(line.msg))).toHaveLength(1);
    expect((await coordinator.getDeploy(id)).status).toBe('in_progress');

    coordinator.members.add('production', ['h2']);
    expect((await watchdog.tick()).lost).toEqual([`${id}/h1`]);
  });

  it('still ends a held deploy at its deadline', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    for (const host of ['h1', 'h2', 'h3']) coordinator.members.setStatus(host, 'failed');
    expect((await watchdog.tick()).lost).toEqual([]);
    coordinator.clock += DEADLINE_MS;
    expect((await watchdog.tick()).timedOut).toEqual([id]);
    expect(await coordinator.getDeploy(id)).toMatchObject({ status: 'failed' });
  });
});

describe('the deadline', () => {
  it('fails and stops a deploy still in progress, naming the hosts that did not finish; a later report keeps the outcome', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(id, 'h1', 'succeeded', { counted: 3, remaining: 2 });
    await coordinator.report(id, 'h2', 'deploying', { counted: 3, slot: 1 });
    expect((await watchdog.tick()).timedOut).toEqual([]);
    expect(fleet.stopped.size).toBe(0);

    coordinator.clock += DEADLINE_MS;
    expect((await watchdog.tick()).timedOut).toEqual([id]);
    const reason = 'did not finish within 600 s; hosts not finished: h2, h3';
    expect(await coordinator.getDeploy(id)).toMatchObject({ status: 'failed', reason });
    // Its waiting hosts stand down: the stop mark is what their acquire reads.
    expect([...fleet.stopped]).toEqual([[`web/production/${id}`, reason]]);
    expect(await watchdog.tick()).toEqual({ checked: 0, lost: [], timedOut: [] });
    expect((await coordinator.report(id, 'h2', 'succeeded', { counted: 3, remaining: 1 })).body).toEqual({ status: 'failed' });
  });

  it('leaves a deploy in progress to stop again on the next tick when the stop could not be set', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    coordinator.clock += DEADLINE_MS;
    fleet.failWith = 'redis down';
    expect((await watchdog.tick()).timedOut).toEqual([]);
    expect((await coordinator.getDeploy(id)).status).toBe('in_progress');
    fleet.failWith = undefined;
    expect((await watchdog.tick()).timedOut).toEqual([id]);
    expect(fleet.stopped.has(`web/production/${id}`)).toBe(true);
  });

  it('says so when every host ended but the count never reached zero', async () => {
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    for (const host of ['h1', 'h2', 'h3']) await coordinator.report(id, host, 'succeeded', { counted: 3, remaining: 1 });
    coordinator.clock += DEADLINE_MS;
    await watchdog.tick();
    expect((await coordinator.getDeploy(id)).reason).toBe('did not finish within 600 s; every host reported an end but the remaining-hosts count never reached zero');
  });
});

describe('a failing store', () => {
  it('logs and survives a failed tick, and checks each deploy on its own', async () => {
    const first = await coordinator.deploy('web', 'production', 'v1');
    store.failures.set('inProgressDeployIds', new Error('boom'));
    expect(await watchdog.tick()).toEqual({ checked: 0, lost: [], timedOut: [] });
    store.failures.clear();

    const second = await coordinator.deploy('web', 'production', 'v1');
    coordinator.members.setStatus('h1', 'failed');
    store.failures.set('applyLostReport', new Error('lost report refused'));
    expect(await watchdog.tick()).toEqual({ checked: 2, lost: [], timedOut: [] });
    store.failures.clear();
    expect((await watchdog.tick()).lost.sort()).toEqual([`${first.id}/h1`, `${second.id}/h1`].sort());
  });
});
