// A bad release stops itself and every deploy ends, over the real Redis store, slot locks
// and fleet state: mark-broken and failed reports stop rollouts in every environment, the
// release and the failed deploy name the first host to fail, and the watchdog counts out
// lost hosts and fails deploys past their deadline. Serf's side is a stand-in.
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployWatchdog } from '../../coordinator/watchdog.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';
import { TIMED_OUT, within } from '../../shared/contract/waiting.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { RedisSlotLocks, type RedisAcquireResult, type RedisSlotLease } from '../../shared/redis/slot-locks.js';
import { CoordinatorHarness, coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { until } from '../fixtures/poll.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const DEADLINE_MS = 10 * 60_000;
const logger = pino({ level: 'silent' });

const testRedis = redisForThisFile();
let redis: Redis;
let fleet: RedisFleetState;
let coordinator: CoordinatorHarness;
let watchdog: DeployWatchdog;
/** Clients and leases a test opened; closed after it whatever its outcome. */
const opened: Redis[] = [];
const leases: RedisSlotLease[] = [];

beforeEach(async () => {
  // The last test's event readers (a quarantine's rollback among them) end before the store is emptied.
  await coordinator?.fleetEvents.settled();
  redis = testRedis.client;
  await redis.flushdb();
  ({ coordinator, fleet } = coordinatorOverRedis(redis, logger));
  watchdog = coordinator.watchdog(DEADLINE_MS);
});

afterEach(async () => {
  await watchdog.stop();
  await Promise.all(leases.splice(0).map((lease) => lease.release()));
  await Promise.all(opened.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
});

const call = (method: string, path: string, body?: unknown) => coordinator.call(method, path, body);
const publish = async (tag: string): Promise<void> => void (await coordinator.publish('web', tag));
const deploy = (env: string, tag: string): Promise<Deploy> => coordinator.deploy('web', env, tag);
const getDeploy = (id: string): Promise<Deploy> => coordinator.getDeploy(id);
const report = (id: string, host: string, state: HostReport['state'], extra: Partial<HostReport> = {}) => coordinator.report(id, host, state, extra);

/** A host's own lock client, as an agent on that host would have. */
function hostLocks(pollMs = 30_000, ttlMs = 60_000): { locks: RedisSlotLocks; client: Redis } {
  const client = new Redis(testRedis.server.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  opened.push(client);
  return { locks: new RedisSlotLocks({ redis: client, ttlMs, pollMs, logger }), client };
}

/** Takes the group's one slot as `holder`; `ttlMs` short for a holder the test lets die. */
async function takeSlot(env: string, holder: string, tag: string, ttlMs = 60_000): Promise<RedisSlotLease & { host: Redis }> {
  const { locks, client } = hostLocks(30_000, ttlMs);
  const result = await locks.acquire({ group: { role: 'web', env }, deployId: 'd-rollout-end', slots: 1, holder, tag, signal: new AbortController().signal, logger });
  if (result.kind !== 'acquired') throw new Error(`${holder} did not get a slot: ${result.kind}`);
  leases.push(result.lease);
  return Object.assign(result.lease, { host: client });
}

/** Starts a host waiting for the one slot of the group; resolves `queued` once it waits. */
function waitForSlot(env: string, holder: string, tag: string, deployId = 'd-rollout-end'): { queued: Promise<void>; result: Promise<RedisAcquireResult> } {
  let onQueued!: () => void;
  const queued = new Promise<void>((resolve) => (onQueued = resolve));
  const signal = AbortSignal.timeout(20_000);
  const result = hostLocks()
    .locks.acquire({ group: { role: 'web', env }, deployId, slots: 1, holder, tag, signal, logger, onWait: onQueued })
    .then((outcome) => {
      if (outcome.kind === 'acquired') leases.push(outcome.lease);
      return outcome;
    });
  return { queued: Promise.race([queued, result.then(() => undefined)]), result };
}

/** Settles like `promise`, or fails once `ms` pass: the wait a host's poll interval would otherwise end. */
async function inTime<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const result = await within(promise, ms);
  if (result === TIMED_OUT) throw new Error(`${what} did not happen within ${ms} ms`);
  return result;
}

const brokenMark = (env: string, tag: string) => fleet.brokenMark({ role: 'web', env }, tag);

describe('a broken release stops itself', () => {
  it('mark-broken sets the fleet mark in every environment with a rollout, and a waiting host stands down at once', async () => {
    await publish('v1');
    await deploy('production', 'v1');
    await deploy('staging', 'v1');
    await takeSlot('production', 'h1', 'v1');
    // With a 30 s poll, only the wake-up the broken mark sends ends this wait in time.
    const waiter = waitForSlot('production', 'h2', 'v1');
    await inTime(waiter.queued, 10_000, 'h2 queueing for the slot');

    const marked = await call('POST', '/v1/releases/web/v1/broken', { reason: 'logins fail' });
    expect(marked.status).toBe(200);
    const by = 'operator bootstrap (config)';
    expect(marked.body.broken).toMatchObject({ reason: 'logins fail', by });

    expect(await inTime(waiter.result, 10_000, 'h2 standing down')).toEqual({ kind: 'broken', reason: `${by}: logins fail` });
    expect(await brokenMark('production', 'v1')).toMatchObject({ reason: 'logins fail', by });
    expect(await brokenMark('staging', 'v1')).toMatchObject({ reason: 'logins fail', by });

    const again = await call('POST', '/v1/deploys', { role: 'web', env: 'staging', tag: 'v1' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('release_broken');
  });

  it('answers 404 for an unknown release and marks nothing in the fleet', async () => {
    await publish('v1');
    await deploy('production', 'v1');
    const answer = await call('POST', '/v1/releases/web/v9/broken', { reason: 'no such thing' });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('release_not_found');
    expect(await brokenMark('production', 'v9')).toBeNull();
  });

  it('a host failing in one environment stops the rollout of the same tag in the others', async () => {
    await publish('v1');
    await deploy('production', 'v1');
    const staging = await deploy('staging', 'v1');
    await takeSlot('production', 'h1', 'v1');
    const waiter = waitForSlot('production', 'h2', 'v1');
    await inTime(waiter.queued, 10_000, 'h2 queueing for the slot');

    await report(staging.id, 's1', 'failed', { counted: 3, remaining: 2, error: 'health: container exited (1)' });

    const result = await inTime(waiter.result, 10_000, 'h2 standing down');
    expect(result).toMatchObject({ kind: 'broken', reason: expect.stringContaining('health: container exited (1)') });
    expect(await brokenMark('production', 'v1')).toMatchObject({ reason: 'health: container exited (1)', by: 's1' });
    const releases = (await call('GET', '/v1/releases/web')).body.releases;
    expect(releases[0].broken).toMatchObject({ by: 's1' });
  });

  it('names the first host to mark the fleet in the failed deploy and in the refusal, whichever report arrives first', async () => {
    coordinator.members.add('production', ['h4', 'h5', 'h6']);
    await publish('v1');
    const created = await deploy('production', 'v1');
    const group = { role: 'web', env: 'production' };
    await fleet.initRemaining(group, created.id, 6);
    // h1 fails first and marks its fleet as its agent does; h6 fails next, and its report arrives first.
    const h1 = new RedisFleetState({ redis, logger, host: 'h1' });
    await h1.markBroken(group, 'v1', 'health: container exited (1)');
    await new RedisFleetState({ redis, logger, host: 'h6' }).markBroken(group, 'v1', 'health: timed out');
    const finish = (host: string) => fleet.finishHost(group, created.id, host);
    await report(created.id, 'h6', 'failed', { counted: 6, remaining: await finish('h6'), error: 'health: timed out' });
    await report(created.id, 'h1', 'failed', { counted: 6, remaining: await finish('h1'), error: 'health: container exited (1)' });
    for (const host of ['h2', 'h3', 'h4', 'h5']) await report(created.id, host, 'cancelled', { counted: 6, remaining: await finish(host), error: 'release marked broken' });

    expect(await getDeploy(created.id)).toMatchObject({ status: 'failed', reason: 'host h1 failed: health: container exited (1) (and 1 more hosts failed)' });
    expect(await brokenMark('production', 'v1')).toMatchObject({ by: 'h1', reason: 'health: container exited (1)' });
    expect(await brokenMark('staging', 'v1')).toBeNull();
    const refused = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe(
      'release web:v1 is marked broken (host h1 failed: health: container exited (1)); publish a new tag or name another with --tag',
    );
  });
});

describe('every deploy ends', () => {
  it('refuses a deploy no alive host would take with 409 no_hosts, storing and firing nothing', async () => {
    await publish('v1');
    const none = await call('POST', '/v1/deploys', { role: 'web', env: 'qa', tag: 'v1' });
    expect(none.status).toBe(409);
    expect(none.body.error).toEqual({ code: 'no_hosts', message: 'no alive host has role web in environment qa' });

    coordinator.members.add('qa', ['q1'], 'api');
    coordinator.members.add('qa', ['q2'], 'web,api');
    coordinator.members.setStatus('q2', 'failed');
    expect((await call('POST', '/v1/deploys', { role: 'web', env: 'qa', tag: 'v1' })).body.error.code).toBe('no_hosts');
    expect(coordinator.events.fired).toEqual([]);
    expect((await call('GET', '/v1/deploys')).body.deploys).toEqual([]);

    coordinator.members.add('qa', ['q3'], 'api,web');
    expect(await deploy('qa', 'v1')).toMatchObject({ targets: ['q3'], expectedHosts: 1 });
  });

  it('counts out a host Serf reports failed without taking its slot: its lease lapses by itself, it keeps counting against k until it serves again, then its place goes to a waiter at once and the deploy ends partial', async () => {
    await publish('v1');
    const created = await deploy('production', 'v1');
    const group = { role: 'web', env: 'production' };
    // What the agents do when the event reaches them.
    await fleet.initRemaining(group, created.id, 3);
    for (const host of ['h1', 'h2', 'h3']) await report(created.id, host, 'waiting', { counted: 3 });
    const held = await takeSlot('production', 'h1', 'v1', 1_000);
    await report(created.id, 'h1', 'deploying', { counted: 3, slot: held.slot, steps: [{ step: 'received', at: coordinator.clock }, { step: 'slot', at: coordinator.clock }] });
    const waiter = waitForSlot('production', 'h2', 'v1');
    await inTime(waiter.queued, 10_000, 'h2 queueing for the slot');

    coordinator.members.setStatus('h1', 'failed');
    const summary = await watchdog.tick();
    expect(summary.lost).toEqual([`${created.id}/h1`]);
    // The watchdog takes no slot from anyone: h1 might only be cut off, still deploying.
    expect(await redis.get(redisKeys.slot('web', 'production', 1))).toBe(held.token);

    // h1 dies for real: its lease lapses by itself; h1 may still be drained, so h2 still waits.
    held.host.disconnect();
    await until("h1's lease to lapse", async () => ((await redis.exists(redisKeys.slot('web', 'production', 1))) === 0 ? true : undefined));
    expect(await redis.zcard(redisKeys.waiters('web', 'production'))).toBe(1);
    expect(await fleet.isOutOfService(group, 'h1')).toBe(true);
    // h1 serves again (its agent back): its place against k goes to the waiter at once.
    expect(await fleet.backInService(group, 'h1')).toBe(true);
    const taken = await inTime(waiter.result, 10_000, 'h2 getting the slot of the lost host');
    expect(taken.kind).toBe('acquired');
    expect((await redis.get(redisKeys.slot('web', 'production', 1)))?.startsWith('h2/')).toBe(true);
    const lost = (await getDeploy(created.id)).hosts.h1;
    expect(lost).toMatchObject({ state: 'lost', error: 'Serf reports the host failed', slot: 1, remaining: 2 });
    expect(lost?.steps.map((s) => s.step)).toEqual(['received', 'slot']);
    expect((await watchdog.tick()).lost).toEqual([]);

    // The others finish as agents do: release, count down, report.
    if (taken.kind === 'acquired') await taken.lease.release();
    await report(created.id, 'h2', 'succeeded', { counted: 3, slot: 1, remaining: await fleet.finishHost(group, created.id, 'h2') });
    const last = await report(created.id, 'h3', 'succeeded', { counted: 3, slot: 1, remaining: await fleet.finishHost(group, created.id, 'h3') });
    expect(last.body).toEqual({ status: 'partial' });
    expect(await getDeploy(created.id)).toMatchObject({ status: 'partial', reason: 'hosts lost: h1' });
    expect(coordinator.events.fired.filter((e) => e.env === 'production')).toHaveLength(1);
  });

  it('ends the deploy when the last host to finish is lost, or no longer listed at all', async () => {
    await publish('v1');
    const created = await deploy('production', 'v1');
    const group = { role: 'web', env: 'production' };
    await fleet.initRemaining(group, created.id, 3);
    await report(created.id, 'h1', 'succeeded', { counted: 3, remaining: await fleet.finishHost(group, created.id, 'h1') });
    await report(created.id, 'h2', 'waiting', { counted: 3 });
    coordinator.members.setStatus('h2', 'left');
    coordinator.members.list.delete('h3');

    expect((await watchdog.tick()).lost.sort()).toEqual([`${created.id}/h2`, `${created.id}/h3`]);
    const ended = await getDeploy(created.id);
    expect(ended).toMatchObject({ status: 'partial', reason: 'hosts lost: h2, h3', targets: ['h1', 'h2', 'h3'], expectedHosts: 3 });
    expect(ended.hosts.h2).toMatchObject({ state: 'lost', error: 'Serf reports the host left' });
    expect(ended.hosts.h3).toMatchObject({ state: 'lost', error: 'Serf no longer lists the host', steps: [] });
    expect(await redis.zcard(redisKeys.deploysInProgress())).toBe(0);
  });

  it('declares nobody lost while Serf cannot be asked, and keeps ticking', async () => {
    await publish('v1');
    const created = await deploy('production', 'v1');
    coordinator.members.setStatus('h1', 'failed');
    coordinator.members.failWith = 'serf agent not running';
    expect(await watchdog.tick()).toEqual({ checked: 1, lost: [], timedOut: [] });
    expect((await getDeploy(created.id)).hosts).toEqual({});

    coordinator.members.failWith = undefined;
    expect((await watchdog.tick()).lost).toEqual([`${created.id}/h1`]);
  });

  it('fails and stops a deploy still in progress after the deadline, naming the hosts that did not finish: its waiting host stands down at once, another deploy\'s waits on', async () => {
    await publish('v1');
    const created = await deploy('production', 'v1');
    await report(created.id, 'h1', 'succeeded', { counted: 3, remaining: 2 });
    await report(created.id, 'h2', 'deploying', { counted: 3, slot: 1 });
    expect((await watchdog.tick()).timedOut).toEqual([]);
    // h2 holds the slot; h3 waits for it in this deploy; a host of another deploy of the group waits too.
    const holder = await takeSlot('production', 'h2', 'v1');
    const h3 = waitForSlot('production', 'h3', 'v1', created.id);
    const other = waitForSlot('production', 'h9', 'v1', 'd-another-deploy');
    await inTime(Promise.all([h3.queued, other.queued]), 10_000, 'h3 and h9 queueing for the slot');

    coordinator.clock += DEADLINE_MS;
    expect((await watchdog.tick()).timedOut).toEqual([created.id]);
    // Woken by the stop, not by its 30 s poll.
    expect(await inTime(h3.result, 5_000, 'h3 standing down')).toEqual({ kind: 'stopped' });
    expect(await redis.get(redisKeys.deployStopped('web', 'production', created.id))).toContain('did not finish within 600 s');
    await until('h9 queued again', async () => ((await redis.zcard(redisKeys.waiters('web', 'production'))) === 1 ? true : undefined));
    await holder.release();
    expect((await inTime(other.result, 10_000, 'h9 getting the slot')).kind).toBe('acquired');
    const ended = await getDeploy(created.id);
    expect(ended).toMatchObject({ status: 'failed', reason: 'did not finish within 600 s; hosts not finished: h2, h3', finishedAt: expect.any(Number) });
    expect(await redis.zcard(redisKeys.deploysInProgress())).toBe(0);
    expect(await watchdog.tick()).toEqual({ checked: 0, lost: [], timedOut: [] });

    // A report arriving after the deadline is kept, but the outcome stays.
    expect((await report(created.id, 'h2', 'succeeded', { counted: 3, remaining: 1 })).body).toEqual({ status: 'failed' });
  });

  it('runs on its own timer once started and stops cleanly', async () => {
    await publish('v1');
    const created = await deploy('production', 'v1');
    coordinator.members.setStatus('h3', 'failed');
    watchdog.start();
    await until('the started watchdog to count out h3', async () => ((await getDeploy(created.id)).hosts.h3?.state === 'lost' ? true : undefined), {
      intervalMs: 50,
    });
    await watchdog.stop();
  });
});
