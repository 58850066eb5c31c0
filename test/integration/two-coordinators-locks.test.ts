// Two coordinators over one real redis-server, each with its own group locks meeting only in
// Redis, as two coordinator processes do: an operator's rollout on one and a host's catch-up on
// the other, fired together again and again, never leave a catch-up created beside a rollout in
// progress; two rollback POSTs with one idempotency key, one per coordinator, make one rollback.
// And the lock itself: one holder at a time across both, renewed past its TTL while held, and a
// holder whose lock was taken from it told so through its signal.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CreateOnce } from '../../coordinator/create-once.js';
import { CoordinatorGroupLocks } from '../../coordinator/leadership/group-lock.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { pollUntil } from '../../shared/contract/waiting.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisGroupLockStore } from '../../shared/redis/group-lock-store.js';
import { RedisRequestKeys } from '../../shared/redis/request-keys.js';
import { coordinatorOverRedis, type CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { redisClientsForThisFile } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const client = redisClientsForThisFile();
const GROUP = { role: 'web', env: 'production' };
const ROUNDS = 20;

const locksOf = (name: string, options: { ttlMs?: number; waitMs?: number } = {}) => new CoordinatorGroupLocks({ store: new RedisGroupLockStore(client()), name, logger: silent, pollMs: 5, ...options });

/** Two coordinators over one emptied Redis, web v1 then v2 deployed everywhere through the first. */
async function twoCoordinators(): Promise<[CoordinatorHarness, CoordinatorHarness]> {
  const redis = client();
  await redis.flushdb();
  const make = (name: string) => {
    const store = new RedisDeployStore({ redis: client(), logger: silent });
    return coordinatorOverRedis(client(), silent, { groupLocks: locksOf(name), createOnce: new CreateOnce(new RedisRequestKeys(client()), (id) => store.getDeploy(id)) }).coordinator;
  };
  const a = make('coordinator-1');
  const b = make('coordinator-2');
  for (const tag of ['v1', 'v2']) {
    await a.publish('web', tag);
    await a.succeedEverywhere(await a.deploy('web', 'production', tag));
  }
  return [a, b];
}

describe('a rollout and a catch-up sent to two coordinators at once', () => {
  it('never creates a catch-up beside a rollout in progress: a catch-up created is older than the rollout, or it is refused', async () => {
    const [a, b] = await twoCoordinators();
    const outcomes: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round += 1) {
      const [deployer, host] = round % 2 === 0 ? [a, b] : [b, a];
      // By number: each harness's clock runs on its own, as two coordinators' clocks differ.
      const newest = (await a.store.listDeploys({ ...GROUP, limit: 4 })).filter((deploy) => deploy.catchUpOf === undefined).sort((x, y) => y.seq! - x.seq!)[0];
      const [rollout, catchUp] = await Promise.all([
        deployer.call('POST', '/v1/deploys', { ...GROUP, tag: round % 2 === 0 ? 'v1' : 'v2' }),
        host.call('POST', '/v1/catch-ups', { ...GROUP, host: 'h3', image: `127.0.0.1:5000/web:old-${round}` }),
      ]);
      const name = `round ${round}: rollout ${rollout.status}, catch-up ${catchUp.status} ${JSON.stringify(catchUp.body?.error ?? catchUp.body?.id)}`;
      expect(rollout.status, name).toBe(201);
      const created = rollout.body as Deploy;
      if (catchUp.status === 201) {
        // Created first: it goes to the rollout before this one, and its number comes before the new rollout's.
        expect((catchUp.body as Deploy).catchUpOf, name).toBe(newest?.id);
        expect((catchUp.body as Deploy).seq!, name).toBeLessThan(created.seq!);
        await a.store.finishDeploy(catchUp.body.id, 'cancelled', 'the test round is over', Date.now());
        outcomes['catch-up first'] = (outcomes['catch-up first'] ?? 0) + 1;
      } else {
        expect(catchUp.status, name).toBe(409);
        expect(catchUp.body.error.code, name).toBe('rollout_in_progress');
        expect(catchUp.body.error.message, name).toContain(created.id);
        outcomes['rollout first'] = (outcomes['rollout first'] ?? 0) + 1;
      }
      // What an operator reads in the group's history: no catch-up numbered after a rollout that was in progress.
      const history = await a.store.listDeploys({ ...GROUP, limit: 4 });
      const later = history.filter((deploy) => deploy.catchUpOf !== undefined && deploy.seq! > created.seq!);
      expect(later.map((deploy) => deploy.id), name).toEqual([]);
      await deployer.succeedEverywhere(created);
    }
    console.log(`rollout vs catch-up on two coordinators, ${ROUNDS} rounds: ${JSON.stringify(outcomes)}`);
  });
});

describe('a rollback retried on the other coordinator', () => {
  it('two rollback POSTs with one idempotency key, one per coordinator at once, make one rollback and both get it', async () => {
    const [a, b] = await twoCoordinators();
    for (let round = 0; round < 6; round += 1) {
      const before = await a.store.listDeploys({ ...GROUP, limit: 200 });
      const headers = { 'idempotency-key': randomUUID() };
      const [one, two] = await Promise.all([a.call('POST', '/v1/rollbacks', GROUP, { headers }), b.call('POST', '/v1/rollbacks', GROUP, { headers })]);
      const name = `round ${round}: ${one.status} ${JSON.stringify(one.body?.error ?? one.body?.id)}, ${two.status} ${JSON.stringify(two.body?.error ?? two.body?.id)}`;
      expect([one.status, two.status], name).toEqual([201, 201]);
      expect(two.body.id, name).toBe(one.body.id);
      const after = await a.store.listDeploys({ ...GROUP, limit: 200 });
      expect(after.length, name).toBe(before.length + 1);
      // Newest by number: the list's order is each coordinator's own clock.
      const newest = [...after].sort((x, y) => y.seq! - x.seq!)[0]!;
      expect(newest.id, name).toBe(one.body.id);
      expect(newest.rollbackOf, name).toBe(round % 2 === 0 ? 'v2' : 'v1');
      // Sent again later (a client's retry after a cut connection): still that rollback, nothing new.
      expect((await b.call('POST', '/v1/rollbacks', GROUP, { headers })).body.id, name).toBe(one.body.id);
      await a.succeedEverywhere(one.body as Deploy);
      expect((await a.store.listDeploys({ ...GROUP, limit: 200 })).length, name).toBe(before.length + 1);
    }
  });
});

describe('two coordinators whose clocks are apart', () => {
  it('a rollback goes back to the release deployed before the current one, by creation order, not by either clock', async () => {
    const [a, b] = await twoCoordinators();
    // The first coordinator's clock runs a day ahead: its deploys' createdAt sort after the other's.
    a.clock += 24 * 60 * 60_000;
    await a.publish('web', 'v3');
    await a.succeedEverywhere(await a.deploy('web', 'production', 'v3'));
    await a.publish('web', 'v4');
    await b.succeedEverywhere(await b.deploy('web', 'production', 'v4'));
    await a.publish('web', 'v5');
    await b.succeedEverywhere(await b.deploy('web', 'production', 'v5'));
    const rollback = await b.call('POST', '/v1/rollbacks', GROUP);
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(201);
    expect(rollback.body).toMatchObject({ tag: 'v4', rollbackOf: 'v5' });
  });
});

describe("a group's lock between two coordinators", () => {
  it('lets one holder at a time in, across both, and every caller gets its turn', async () => {
    const [one, two] = [locksOf('coordinator-1'), locksOf('coordinator-2')];
    const counter = client();
    await counter.set('test:counter', '0');
    let inside = 0;
    let most = 0;
    const add = (locks: CoordinatorGroupLocks) =>
      locks.hold(GROUP, 'rollout', async () => {
        inside += 1;
        most = Math.max(most, inside);
        // A read, then a write that depends on it, across two round trips: what the lock must keep whole.
        const seen = Number(await counter.get('test:counter'));
        await counter.set('test:counter', String(seen + 1));
        inside -= 1;
      });
    await Promise.all(Array.from({ length: 40 }, (_, i) => add(i % 2 === 0 ? one : two)));
    expect(most).toBe(1);
    expect(await counter.get('test:counter')).toBe('40');
    expect(await counter.exists(redisKeys.groupLock('web', 'production'))).toBe(0);
  });

  it('is renewed while held past its TTL, so the other coordinator waits for its release', async () => {
    // A TTL a loaded machine's pauses stay well inside (renewed every 400 ms).
    const holder = locksOf('coordinator-1', { ttlMs: 1_200 });
    const other = locksOf('coordinator-2', { ttlMs: 1_200, waitMs: 15_000 });
    const key = redisKeys.groupLock('web', 'production');
    const redis = client();
    const order: string[] = [];
    let otherCall: Promise<void> | undefined;
    await holder.hold(GROUP, 'strategy-step', async () => {
      otherCall = other.hold(GROUP, 'canary-promote', async () => void order.push('other'));
      // Three renewals seen (each puts the TTL back up): held for well over one TTL.
      let last = await redis.pttl(key);
      let renewals = 0;
      await pollUntil('three renewals', async () => {
        const ttl = await redis.pttl(key);
        if (ttl > last) renewals += 1;
        last = ttl;
        return renewals >= 3 ? true : undefined;
      }, { timeoutMs: 10_000, intervalMs: 20 });
      order.push('holder');
    });
    await otherCall;
    expect(order).toEqual(['holder', 'other']);
  }, 30_000);

  it("tells a holder through its signal when another took the lock from it, and its release leaves the other's alone", async () => {
    const holder = locksOf('coordinator-1', { ttlMs: 300 });
    const key = redisKeys.groupLock('web', 'production');
    const redis = client();
    const aborted = await holder.hold(GROUP, 'cluster-retire', async (signal) => {
      // As if this process paused past its TTL and the other coordinator took the group meanwhile.
      await redis.set(key, 'coordinator-2/route-change/1', 'PX', 10_000);
      await pollUntil('the lost lock to be seen', () => (signal.aborted ? true : undefined), { timeoutMs: 2_000, intervalMs: 10 });
      return signal.aborted;
    });
    expect(aborted).toBe(true);
    expect(await redis.get(key)).toBe('coordinator-2/route-change/1');
  });
});
