// A bad release stops itself and every deploy ends: mark-broken and failed reports stop
// rollouts in every environment, rollback, staging-to-production promotion, and the
// watchdog that counts out lost hosts and fails deploys past their deadline. Real Redis,
// real slot locks and fleet state; Serf's member list and the event sender are stand-ins.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisSlotLocks, type RedisAcquireResult, type RedisSlotLease } from '../../shared/redis/slot-locks.js';
import { createApp } from '../../coordinator/app.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { DeployWatchdog } from '../../coordinator/watchdog.js';
import { loadCoordinatorConfig } from '../../shared/contract/config.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { ConfigError, ConflictError } from '../../shared/contract/errors.js';
import { brokenMarkReason, RedisFleetState } from '../../shared/redis/fleet-state.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';
import { ListedMembers, RecordingEvents } from '../fixtures/coordinator-fakes.js';
import { until } from '../fixtures/poll.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const TOKEN = 'test-token-0123456789';
const DEADLINE_MS = 10 * 60_000;
const logger = pino({ level: 'silent' });

const testRedis = redisForThisFile();
let redis: Redis;
let events: RecordingEvents;
let members: ListedMembers;
let fleet: RedisFleetState;
let store: RedisDeployStore;
let watchdog: DeployWatchdog;
let clock: number;
let app: ReturnType<typeof createApp>;
/** Clients and leases a test opened; closed after it whatever its outcome. */
const opened: Redis[] = [];
const leases: RedisSlotLease[] = [];

beforeEach(async () => {
  redis = testRedis.client;
  await redis.flushdb();
  events = new RecordingEvents();
  members = new ListedMembers();
  members.add('production', ['h1', 'h2', 'h3']);
  members.add('staging', ['s1', 's2', 's3']);
  clock = 1_700_000_000_000;
  // Every read of the clock moves it on, so records made one after another have distinct times.
  const now = () => (clock += 1000);
  store = new RedisDeployStore({ redis, logger });
  fleet = new RedisFleetState({ redis, logger, host: 'coordinator' });
  app = createApp({
    store,
    events,
    membership: members,
    fleet,
    promote: { web: { from: 'staging', to: 'production' } },
    token: TOKEN,
    registry: '127.0.0.1:5000',
    logger,
    now,
  });
  watchdog = new DeployWatchdog({ store, membership: members, fleet, deadlineMs: DEADLINE_MS, logger, now });
});

afterEach(async () => {
  await watchdog.stop();
  await Promise.all(leases.splice(0).map((lease) => lease.release()));
  await Promise.all(opened.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
});

interface Answer {
  status: number;
  body: any;
}

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function publish(tag: string): Promise<void> {
  expect((await call('POST', '/v1/releases', { role: 'web', tag })).status).toBe(201);
}

async function deploy(env: string, tag: string): Promise<Deploy> {
  const answer = await call('POST', '/v1/deploys', { role: 'web', env, tag });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body;
}

async function getDeploy(id: string): Promise<Deploy> {
  const answer = await call('GET', `/v1/deploys/${id}`);
  expect(answer.status).toBe(200);
  return answer.body;
}

async function report(id: string, host: string, state: HostReport['state'], extra: Partial<HostReport> = {}): Promise<Answer> {
  const body: HostReport = { host, state, steps: [{ step: 'received', at: clock }], ...extra };
  const answer = await call('POST', `/v1/deploys/${id}/reports`, body);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer;
}

/** Every host reports success, counting down as agents do. */
async function succeedEverywhere(created: Deploy): Promise<void> {
  const hosts = created.targets ?? [];
  for (const [i, host] of hosts.entries()) {
    await report(created.id, host, 'succeeded', { counted: hosts.length, slot: 1, remaining: hosts.length - i - 1 });
  }
  expect((await getDeploy(created.id)).status).toBe('succeeded');
}

/** A host's own lock client, as an agent on that host would have. */
function hostLocks(pollMs = 30_000): RedisSlotLocks {
  const client = new Redis(testRedis.server.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  opened.push(client);
  return new RedisSlotLocks({ redis: client, ttlMs: 60_000, pollMs, logger });
}

async function takeSlot(env: string, holder: string, tag: string): Promise<RedisSlotLease> {
  const result = await hostLocks().acquire({ group: { role: 'web', env }, slots: 1, holder, tag, signal: new AbortController().signal, logger });
  if (result.kind !== 'acquired') throw new Error(`${holder} did not get a slot: ${result.kind}`);
  leases.push(result.lease);
  return result.lease;
}

/** Starts a host waiting for the one slot of the group; resolves `queued` once it waits. */
function waitForSlot(env: string, holder: string, tag: string): { queued: Promise<void>; result: Promise<RedisAcquireResult> } {
  let onQueued!: () => void;
  const queued = new Promise<void>((resolve) => (onQueued = resolve));
  const signal = AbortSignal.timeout(20_000);
  const result = hostLocks()
    .acquire({ group: { role: 'web', env }, slots: 1, holder, tag, signal, logger, onWait: onQueued })
    .then((outcome) => {
      if (outcome.kind === 'acquired') leases.push(outcome.lease);
      return outcome;
    });
  return { queued: Promise.race([queued, result.then(() => undefined)]), result };
}

/** Settles like `promise`, or rejects once `ms` pass: the wait a host's poll interval would otherwise end. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function brokenMark(env: string, tag: string): Promise<{ reason: string; host?: string } | null> {
  const raw = await redis.get(redisKeys.broken('web', env, tag));
  return raw === null ? null : { ...(JSON.parse(raw) as { host?: string }), reason: brokenMarkReason(raw) };
}

describe('a broken release stops itself', () => {
  it('mark-broken sets the fleet mark in every environment with a rollout, and a waiting host stands down at once', async () => {
    await publish('v1');
    await deploy('production', 'v1');
    await deploy('staging', 'v1');
    await takeSlot('production', 'h1', 'v1');
    // With a 30 s poll, only the wake-up the broken mark sends ends this wait in time.
    const waiter = waitForSlot('production', 'h2', 'v1');
    await within(waiter.queued, 10_000, 'h2 queueing for the slot');

    const marked = await call('POST', '/v1/releases/web/v1/broken', { reason: 'logins fail', by: 'release-bot' });
    expect(marked.status).toBe(200);
    expect(marked.body.broken).toMatchObject({ reason: 'logins fail', by: 'release-bot' });

    expect(await within(waiter.result, 10_000, 'h2 standing down')).toEqual({ kind: 'broken', reason: 'release-bot: logins fail' });
    expect(await brokenMark('production', 'v1')).toMatchObject({ reason: 'release-bot: logins fail', host: 'coordinator' });
    expect(await brokenMark('staging', 'v1')).toMatchObject({ reason: 'release-bot: logins fail', host: 'coordinator' });

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
    await within(waiter.queued, 10_000, 'h2 queueing for the slot');

    await report(staging.id, 's1', 'failed', { counted: 3, remaining: 2, error: 'health: container exited (1)' });

    const result = await within(waiter.result, 10_000, 'h2 standing down');
    expect(result).toMatchObject({ kind: 'broken', reason: expect.stringContaining('health: container exited (1)') });
    expect(await brokenMark('production', 'v1')).toMatchObject({ reason: 's1: health: container exited (1)', host: 'coordinator' });
    const releases = (await call('GET', '/v1/releases/web')).body.releases;
    expect(releases[0].broken).toMatchObject({ by: 's1' });
  });
});

describe('rollback', () => {
  it('goes back to v1 after v1 and then v2 succeeded', async () => {
    await publish('v1');
    await succeedEverywhere(await deploy('production', 'v1'));
    await publish('v2');
    await succeedEverywhere(await deploy('production', 'v2'));

    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({ role: 'web', env: 'production', tag: 'v1', rollbackOf: 'v2', status: 'in_progress', targets: ['h1', 'h2', 'h3'] });
    expect(events.fired.at(-1)).toEqual({ v: 1, role: 'web', env: 'production', id: answer.body.id });
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
    members.add('qa', ['q1']);
    await publish('v2');
    await succeedEverywhere(await deploy('qa', 'v2'));
    const firedBefore = events.fired.length;
    const answer = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('nothing_to_roll_back');
    expect(answer.body.error.message).toMatch(/web.*production/);
    expect(events.fired.length).toBe(firedBefore);

    expect((await call('POST', '/v1/rollbacks', { role: 'web' })).status).toBe(400);
  });

  it('is reachable through CoordinatorClient, with nothing_to_roll_back as a ConflictError', async () => {
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
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
      expect(release.broken).toMatchObject({ reason: 'slow', by: 'operator' });
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
    // The last report, a resend of it and a late resend of another all arrive at once.
    const answers = await Promise.all([
      report(staging.id, 's3', 'succeeded', { counted: 3, remaining: 0 }),
      report(staging.id, 's3', 'succeeded', { counted: 3, remaining: 0 }),
      report(staging.id, 's2', 'succeeded', { counted: 3, remaining: 1 }),
    ]);
    expect(answers.map((a) => a.body.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);

    const toProduction = events.fired.filter((e) => e.env === 'production');
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

    expect(events.fired.filter((e) => e.env === 'production')).toEqual([]);
    const record = await getDeploy(staging.id);
    expect(record.promotedTo).toBeUndefined();
    expect(record.promotion).toBeUndefined();
  });

  it('a production deploy does not promote, and a promotion that cannot be made is recorded instead', async () => {
    await publish('v1');
    await succeedEverywhere(await deploy('production', 'v1'));
    expect(events.fired.filter((e) => e.env !== 'production')).toEqual([]);

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
    expect(events.fired.filter((e) => e.env === 'production')).toHaveLength(1);
  });
});

describe('every deploy ends', () => {
  it('refuses a deploy no alive host would take with 409 no_hosts, storing and firing nothing', async () => {
    await publish('v1');
    const none = await call('POST', '/v1/deploys', { role: 'web', env: 'qa', tag: 'v1' });
    expect(none.status).toBe(409);
    expect(none.body.error).toEqual({ code: 'no_hosts', message: 'no alive host has role web in environment qa' });

    members.add('qa', ['q1'], 'api');
    members.add('qa', ['q2'], 'web,api');
    members.setStatus('q2', 'failed');
    expect((await call('POST', '/v1/deploys', { role: 'web', env: 'qa', tag: 'v1' })).body.error.code).toBe('no_hosts');
    expect(events.fired).toEqual([]);
    expect((await call('GET', '/v1/deploys')).body.deploys).toEqual([]);

    members.add('qa', ['q3'], 'api,web');
    expect(await deploy('qa', 'v1')).toMatchObject({ targets: ['q3'], expectedHosts: 1 });
  });

  it('counts out a host Serf reports failed: its slot goes to a waiter at once and the deploy ends partial', async () => {
    await publish('v1');
    const created = await deploy('production', 'v1');
    const group = { role: 'web', env: 'production' };
    // What the agents do when the event reaches them.
    await fleet.initRemaining(group, created.id, 3);
    for (const host of ['h1', 'h2', 'h3']) await report(created.id, host, 'waiting', { counted: 3 });
    const held = await takeSlot('production', 'h1', 'v1');
    await report(created.id, 'h1', 'deploying', { counted: 3, slot: held.slot, steps: [{ step: 'received', at: clock }, { step: 'slot', at: clock }] });
    const waiter = waitForSlot('production', 'h2', 'v1');
    await within(waiter.queued, 10_000, 'h2 queueing for the slot');

    members.setStatus('h1', 'failed');
    const summary = await watchdog.tick();
    expect(summary.lost).toEqual([`${created.id}/h1`]);

    const taken = await within(waiter.result, 10_000, 'h2 getting the slot of the lost host');
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
    expect(events.fired.filter((e) => e.env === 'production')).toHaveLength(1);
  });

  it('ends the deploy when the last host to finish is lost, or no longer listed at all', async () => {
    await publish('v1');
    const created = await deploy('production', 'v1');
    const group = { role: 'web', env: 'production' };
    await fleet.initRemaining(group, created.id, 3);
    await report(created.id, 'h1', 'succeeded', { counted: 3, remaining: await fleet.finishHost(group, created.id, 'h1') });
    await report(created.id, 'h2', 'waiting', { counted: 3 });
    members.setStatus('h2', 'left');
    members.list.delete('h3');

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
    members.setStatus('h1', 'failed');
    members.failWith = 'serf agent not running';
    expect(await watchdog.tick()).toEqual({ checked: 1, lost: [], timedOut: [] });
    expect((await getDeploy(created.id)).hosts).toEqual({});

    members.failWith = undefined;
    expect((await watchdog.tick()).lost).toEqual([`${created.id}/h1`]);
  });

  it('fails a deploy still in progress after the deadline, naming the hosts that did not finish', async () => {
    await publish('v1');
    const created = await deploy('production', 'v1');
    await report(created.id, 'h1', 'succeeded', { counted: 3, remaining: 2 });
    await report(created.id, 'h2', 'deploying', { counted: 3, slot: 1 });
    expect((await watchdog.tick()).timedOut).toEqual([]);

    clock += DEADLINE_MS;
    expect((await watchdog.tick()).timedOut).toEqual([created.id]);
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
    members.setStatus('h3', 'failed');
    watchdog.start();
    await until('the started watchdog to count out h3', async () => ((await getDeploy(created.id)).hosts.h3?.state === 'lost' ? true : undefined), {
      intervalMs: 50,
    });
    await watchdog.stop();
  });
});

describe('coordinator config', () => {
  const base = {
    GRAPEVINE_REDIS_URL: 'redis://127.0.0.1:6379',
    GRAPEVINE_TOKEN: TOKEN,
    GRAPEVINE_SERF_RPC_AUTH: 'rpc-auth-0123',
  };
  const file = async (content: object) => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'gvtest-config-'));
    const path = join(dir, 'coordinator.json');
    await writeFile(path, JSON.stringify({ listen: {}, registry: '127.0.0.1:5000', serf: { bind: '127.0.0.1:7946', dataDir: '/tmp/gvtest-serf' }, ...content }));
    return { path, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
  };

  it('defaults promotion to staging -> production per named role, and the deadline to 30 minutes', async () => {
    await using config = await file({ promote: { web: {}, api: { from: 'qa', to: 'staging' } } });
    const loaded = loadCoordinatorConfig(config.path, base);
    expect(loaded.promote).toEqual({ web: { from: 'staging', to: 'production' }, api: { from: 'qa', to: 'staging' } });
    expect(loaded.deployDeadlineMs).toBe(30 * 60_000);
    expect(loadCoordinatorConfig(config.path, { ...base, GRAPEVINE_DEPLOY_DEADLINE_MS: '90000' }).deployDeadlineMs).toBe(90_000);
  });

  it('refuses a promotion into the same environment, naming the field', async () => {
    await using config = await file({ promote: { web: { from: 'production', to: 'production' } } });
    expect(() => loadCoordinatorConfig(config.path, base)).toThrow(ConfigError);
    expect(() => loadCoordinatorConfig(config.path, base)).toThrow(/promote\.web/);
  });
});
