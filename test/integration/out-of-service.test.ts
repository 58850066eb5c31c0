// An operator sees and clears the hosts a group counts out of service, over the real Redis
// fleet state and real slot leases: a host holding a lease is listed as holding it and
// cannot be forgotten; once its lease is released or lapsed it can, and a waiting host
// takes its place at once. Then the same through `grapevine out-of-service` against the
// coordinator served over HTTP. Serf's side is a stand-in.
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { TIMED_OUT, within } from '../../shared/contract/waiting.js';
import type { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { RedisSlotLocks, type RedisAcquireResult, type RedisSlotLease } from '../../shared/redis/slot-locks.js';
import { cliAgainstCoordinator } from '../fixtures/cli-against-coordinator.js';
import { CoordinatorHarness, TOKEN, coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { until } from '../fixtures/poll.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const logger = pino({ level: 'silent' });
const group = { role: 'web', env: 'production' };
const LIST = '/v1/groups/web/production/out-of-service';
/** Longer than any test: a waiter that gets the slot in time was woken, not polled. */
const POLL_MS = 60_000;

const testRedis = redisForThisFile();
let redis: Redis;
let fleet: RedisFleetState;
let coordinator: CoordinatorHarness;
let created: Deploy;
const opened: Redis[] = [];
const leases: RedisSlotLease[] = [];

beforeEach(async () => {
  // The last test's event readers (a quarantine's rollback among them) end before the store is emptied.
  await coordinator?.fleetEvents.settled();
  redis = testRedis.client;
  await redis.flushdb();
  ({ coordinator, fleet } = coordinatorOverRedis(redis, logger));
  await coordinator.publish('web', 'v1');
  // Three production hosts: k = 1.
  created = await coordinator.deploy('web', 'production', 'v1');
});

afterEach(async () => {
  await Promise.all(leases.splice(0).map((lease) => lease.release()));
  await Promise.all(opened.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
});

/** A host's own lock client, as its agent would have. */
function hostLocks(ttlMs: number): { locks: RedisSlotLocks; client: Redis } {
  const client = new Redis(testRedis.server.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  opened.push(client);
  return { locks: new RedisSlotLocks({ redis: client, ttlMs, pollMs: POLL_MS, logger }), client };
}

async function takeSlot(holder: string, ttlMs = 60_000): Promise<RedisSlotLease & { host: Redis }> {
  const { locks, client } = hostLocks(ttlMs);
  const result = await locks.acquire({ group, deployId: created.id, slots: 1, holder, tag: 'v1', signal: new AbortController().signal, logger });
  if (result.kind !== 'acquired') throw new Error(`${holder} did not get a slot: ${result.kind}`);
  leases.push(result.lease);
  return Object.assign(result.lease, { host: client });
}

/** A host waiting for the group's one slot; `queued` resolves once it waits. */
function waitForSlot(holder: string): { queued: Promise<void>; result: Promise<RedisAcquireResult> } {
  let onQueued!: () => void;
  const queued = new Promise<void>((resolve) => (onQueued = resolve));
  const result = hostLocks(60_000)
    .locks.acquire({ group, deployId: created.id, slots: 1, holder, tag: 'v1', signal: AbortSignal.timeout(30_000), logger, onWait: onQueued })
    .then((outcome) => {
      if (outcome.kind === 'acquired') leases.push(outcome.lease);
      return outcome;
    });
  return { queued: Promise.race([queued, result.then(() => undefined)]), result };
}

async function inTime<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const result = await within(promise, ms);
  if (result === TIMED_OUT) throw new Error(`${what} did not happen within ${ms} ms`);
  return result;
}

const list = () => coordinator.call('GET', LIST);
const forget = (host: string, query = '') => coordinator.call('DELETE', `${LIST}/${host}${query}`);
const slotValue = () => redis.get(redisKeys.slot('web', 'production', 1));

describe('the hosts a group counts out of service, over Redis', () => {
  it('lists a host holding a real slot lease as holding it, and refuses to forget it while Serf lists it alive', async () => {
    await takeSlot('h1');
    expect((await list()).body).toEqual({
      role: 'web',
      env: 'production',
      deploy: { id: created.id, status: 'in_progress', slots: 1 },
      hosts: [{ host: 'h1', serf: 'alive', slot: 1 }],
    });

    const refused = await forget('h1');
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('host_deploying');
    expect(await redis.smembers(redisKeys.outOfService('web', 'production'))).toEqual(['h1']);
    expect((await slotValue())?.startsWith('h1/')).toBe(true);
  });

  it('forgets a holder once its lease is released without serving again, and the waiting host takes the slot at once', async () => {
    const held = await takeSlot('h1');
    const waiter = waitForSlot('h2');
    await inTime(waiter.queued, 10_000, 'h2 queueing for the slot');
    // h1 could not put any version back: it stays counted, and h2 keeps waiting.
    await held.release({ outOfService: true });
    expect(await slotValue()).toBeNull();
    await until('h2 queued again after the wake-up the release sent', async () =>
      (await redis.zcard(redisKeys.waiters('web', 'production'))) === 1 ? true : undefined,
    );
    expect((await list()).body.hosts).toEqual([{ host: 'h1', serf: 'alive', slot: null }]);

    const forgotten = await forget('h1', '?reason=disk%20died');
    expect(forgotten).toMatchObject({ status: 200, body: { host: 'h1', removed: true, forced: false } });
    expect((await inTime(waiter.result, 10_000, 'h2 getting the slot h1 counted against')).kind).toBe('acquired');
    expect((await slotValue())?.startsWith('h2/')).toBe(true);
    expect((await list()).body.hosts).toEqual([{ host: 'h2', serf: 'alive', slot: 1 }]);
    expect((await forget('h1')).status).toBe(404);
  });

  it('forgets a dead holder once its lease lapsed, and the waiting host takes the slot at once', async () => {
    const held = await takeSlot('h1', 1_000);
    const waiter = waitForSlot('h2');
    await inTime(waiter.queued, 10_000, 'h2 queueing for the slot');
    held.host.disconnect();
    coordinator.members.setStatus('h1', 'failed');
    await until("h1's lease to lapse", async () => ((await slotValue()) === null ? true : undefined));
    expect((await list()).body.hosts).toEqual([{ host: 'h1', serf: 'failed', slot: null }]);
    expect(await redis.zcard(redisKeys.waiters('web', 'production'))).toBe(1);

    expect((await forget('h1')).body).toMatchObject({ host: 'h1', serf: 'failed', slot: null, removed: true });
    expect((await inTime(waiter.result, 10_000, 'h2 getting the slot of the dead host')).kind).toBe('acquired');
    expect(await fleet.isOutOfService(group, 'h1')).toBe(false);
  });

  it('forgets a deploying holder when forced, leaving its lease alone', async () => {
    await takeSlot('h1');
    expect((await forget('h1', '?force=true')).body).toMatchObject({ host: 'h1', serf: 'alive', slot: 1, removed: true, forced: true });
    expect(await fleet.isOutOfService(group, 'h1')).toBe(false);
    expect((await slotValue())?.startsWith('h1/')).toBe(true);
  });

  it('answers 404 naming a host that is not counted out of service', async () => {
    const answer = await forget('h3');
    expect(answer.status).toBe(404);
    expect(answer.body.error.message).toBe('host h3 is not counted out of service in web/production');
  });
});

describe('grapevine out-of-service', () => {
  const served = cliAgainstCoordinator('out-of-service', () => coordinator);

  /** The token travels in the environment, never on the command line. */
  const grapevine = (...args: string[]) =>
    execa(process.execPath, [served.cli, ...args], { env: { GRAPEVINE_COORDINATOR: served.url, GRAPEVINE_TOKEN: TOKEN }, reject: false, timeout: 30_000 });

  it('lists the hosts as a table or JSON, refuses a deploying host with exit 2, and forgets a dead one', async () => {
    await takeSlot('h2');
    await redis.sadd(redisKeys.outOfService('web', 'production'), 'h1');
    coordinator.members.setStatus('h1', 'failed');

    const table = await grapevine('out-of-service', 'web', '--env', 'production');
    expect(table.exitCode).toBe(0);
    expect(table.stdout.split('\n')).toEqual([
      `web/production: 2 hosts counted out of service; newest deploy ${created.id} in_progress, k = 1`,
      '  HOST                 SERF        SLOT',
      '  h1                   failed      -',
      '  h2                   alive       1',
      'a host removed for good: grapevine out-of-service web --env production --forget h1',
    ]);
    const json = await grapevine('--json', 'out-of-service', 'web', '--env', 'production');
    expect(JSON.parse(json.stdout).hosts).toEqual([
      { host: 'h1', serf: 'failed', slot: null },
      { host: 'h2', serf: 'alive', slot: 1 },
    ]);

    const refused = await grapevine('out-of-service', 'web', '--env', 'production', '--forget', 'h2');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/^grapevine: host h2 holds slot 1 of web\/production and Serf lists it alive/);
    expect(await fleet.isOutOfService(group, 'h2')).toBe(true);

    const forgotten = await grapevine('out-of-service', 'web', '--env', 'production', '--forget', 'h1', '--reason', 'decommissioned');
    expect(forgotten.exitCode).toBe(0);
    expect(forgotten.stdout).toBe(
      'h1 no longer counted out of service in web/production; its place against k goes to the next waiting host (Serf: failed)',
    );
    expect(await fleet.isOutOfService(group, 'h1')).toBe(false);

    const again = await grapevine('out-of-service', 'web', '--env', 'production', '--forget', 'h1');
    expect(again.exitCode).toBe(2);
    expect(again.stderr.trim()).toBe('grapevine: host h1 is not counted out of service in web/production');

    const forced = await grapevine('--json', 'out-of-service', 'web', '--env', 'production', '--forget', 'h2', '--force');
    expect(forced.exitCode).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ host: 'h2', slot: 1, removed: true, forced: true });
  });

  it('refuses bad input with exit 2 and a reason naming it, asking the coordinator nothing', async () => {
    await redis.sadd(redisKeys.outOfService('web', 'production'), 'h1');
    const badHost = await grapevine('out-of-service', 'web', '--env', 'production', '--forget', 'h_1');
    expect(badHost.exitCode).toBe(2);
    expect(badHost.stderr).toMatch(/^grapevine: --forget: /);
    const forceAlone = await grapevine('out-of-service', 'web', '--env', 'production', '--force');
    expect(forceAlone.exitCode).toBe(2);
    expect(forceAlone.stderr.trim()).toBe('grapevine: --force and --reason go with --forget HOST');
    const badEnv = await grapevine('out-of-service', 'web', '--env', 'Prod');
    expect(badEnv.exitCode).toBe(2);
    expect(badEnv.stderr).toMatch(/^grapevine: --env: /);
    expect(await fleet.isOutOfService(group, 'h1')).toBe(true);
  });
});
