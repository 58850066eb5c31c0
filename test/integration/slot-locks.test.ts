// Slot locks against a real redis-server: at most k holders, FIFO wake-ups, TTLs and renewal,
// as an operator could see them in Redis.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WaitQueue } from '../../shared/redis/wait-queue.js';
import { LockLostError } from '../../shared/contract/errors.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { silent, slotLockRedis } from '../fixtures/slot-lock-redis.js';
import { AgentMetrics } from '../../agent/metrics/agent-metrics.js';
import { parseExposition, valueOf } from '../fixtures/prometheus-text.js';

const redis = slotLockRedis();
const { client, locks, recordingLogger, waitFor, acquired, track, keysMatching, commandCalls, callsDelta, waiters, wakeLists } = redis;

describe('slot locks on a real redis-server', () => {
  it('never lets more hosts hold slots than there are slots, and every contender gets one', async () => {
    const group = { role: 'contend', env: 'test' };
    const slots = 3;
    let holding = 0;
    let mostHolding = 0;
    let mostKeys = 0;
    const problems: string[] = [];
    const heldSlots = new Set<number>();

    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const keys = await keysMatching(redisKeys.slot(group.role, group.env, '*'));
        mostKeys = Math.max(mostKeys, keys.length);
        for (const key of keys) {
          if (!/:lock:[123]$/.test(key)) problems.push(`unexpected lock key ${key}`);
        }
        await delay(5);
      }
    })();

    const contenders = Array.from({ length: 12 }, () => locks({ pollMs: 30_000 }));
    const results = await Promise.all(
      contenders.map(async (contender) => {
        const lease = acquired(await contender.acquire({ group, deployId: 'd1', slots, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(30_000) }));
        holding++;
        mostHolding = Math.max(mostHolding, holding);
        if (heldSlots.has(lease.slot)) problems.push(`slot ${lease.slot} granted twice`);
        heldSlots.add(lease.slot);
        const slotKey = redisKeys.slot(group.role, group.env, lease.slot);
        if ((await redis.admin.get(slotKey)) !== lease.token) problems.push(`slot ${lease.slot} key does not hold its holder's token`);
        // The "deploy": a short, random hold.
        await delay(20 + Math.floor(Math.random() * 60));
        if ((await redis.admin.get(slotKey)) !== lease.token) problems.push(`slot ${lease.slot} key changed while held`);
        heldSlots.delete(lease.slot);
        holding--;
        await lease.release();
        return lease.slot;
      }),
    );
    sampling = false;
    await sampler;

    expect(problems).toEqual([]);
    expect(results).toHaveLength(12);
    expect(mostHolding).toBeLessThanOrEqual(slots);
    expect(mostHolding).toBeGreaterThanOrEqual(2);
    expect(mostKeys).toBeLessThanOrEqual(slots);
    expect(await keysMatching(redisKeys.slot(group.role, group.env, '*'))).toEqual([]);
    expect(await waiters(group)).toBe(0);
    expect(await wakeLists(group)).toEqual([]);
  }, 40_000);

  it('a release wakes exactly one waiter, the oldest, without waiting for the fallback poll', async () => {
    const group = { role: 'handover', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const holder = acquired(await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));

    // A 30 s poll means only a wake-up can hand the slot over within the test's time.
    const queue = [];
    for (let i = 1; i <= 3; i++) {
      queue.push(track(locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal })));
      await waitFor(`waiter ${i} in the queue`, async () => (await waiters(group)) === i);
    }
    const [first, second, third] = queue as [(typeof queue)[0], (typeof queue)[0], (typeof queue)[0]];

    const before = await commandCalls();
    await holder.release();
    const firstLease = acquired(await first.promise);
    const afterFirst = callsDelta(before, await commandCalls());
    expect(afterFirst.get('lpush')).toBe(1);
    expect(await waiters(group)).toBe(2);
    expect(second.settled || third.settled).toBe(false);

    await firstLease.release();
    const secondLease = acquired(await second.promise);
    expect(third.settled).toBe(false);
    await secondLease.release();
    const thirdLease = acquired(await third.promise);
    await thirdLease.release();

    // Three releases found someone waiting; the last found nobody.
    expect(callsDelta(before, await commandCalls()).get('lpush')).toBe(3);
    expect(await waiters(group)).toBe(0);
    expect(await wakeLists(group)).toEqual([]);
  }, 20_000);

  it('a holder that dies keeps its slot until its lease lapses, then a waiter gets it', async () => {
    const group = { role: 'deadholder', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const holderRedis = client();
    const holder = acquired(await locks({ redis: holderRedis, ttlMs: 1_500 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));

    const waiter = track(locks({ ttlMs: 1_500, pollMs: 200 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    await waitFor('the waiter in the queue', async () => (await waiters(group)) === 1);

    // Dies without releasing: its connection is gone, so it cannot renew either.
    holderRedis.disconnect();
    expect(await redis.admin.get(slotKey)).toBe(holder.token);
    expect(await redis.admin.pttl(slotKey)).toBeGreaterThan(0);
    expect(waiter.settled).toBe(false);

    const lease = acquired(await waiter.promise);
    expect(lease.slot).toBe(1);
    expect(await redis.admin.get(slotKey)).toBe(lease.token);
    await waitFor('the dead holder to notice its loss', () => holder.signal.aborted);
    expect(holder.signal.reason).toBeInstanceOf(LockLostError);
    await lease.release();
  }, 20_000);

  it('a wake-up sent to a waiter that died is made up for by the next poll', async () => {
    const group = { role: 'deadwaiter', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const holder = acquired(await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    const waiter = track(locks({ pollMs: 300 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    await waitFor('the waiter in the queue', async () => (await waiters(group)) === 1);
    // A host that queued earlier and then crashed: first in line, never reads its wake list.
    await redis.admin.zadd(redisKeys.waiters(group.role, group.env), '0', 'crashed-host');

    await holder.release();
    const lease = acquired(await waiter.promise);
    expect(lease.slot).toBe(1);
    expect(await redis.admin.zrange(redisKeys.waiters(group.role, group.env), '0', '-1')).toEqual([]);
    await lease.release();
    await redis.admin.del(redisKeys.wake(group.role, group.env, 'crashed-host'));
  }, 20_000);

  it('a release by a non-holder changes nothing and wakes nobody', async () => {
    const group = { role: 'nonholder', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const signal = AbortSignal.timeout(20_000);
    const lease = acquired(await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    const waiter = track(locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    await waitFor('the waiter in the queue', async () => (await waiters(group)) === 1);

    const before = await commandCalls();
    const outcome = await new WaitQueue(redis.admin, group).release(slotKey, 1, 'not-the-holder', '');
    expect(outcome).toEqual({ released: false });
    expect(await redis.admin.get(slotKey)).toBe(lease.token);
    expect(await waiters(group)).toBe(1);
    expect(callsDelta(before, await commandCalls()).get('lpush')).toBeUndefined();

    // Releasing twice is safe: the second call does nothing.
    await lease.release();
    await lease.release();
    const next = acquired(await waiter.promise);
    expect(await redis.admin.get(slotKey)).toBe(next.token);

    // A lease whose key was taken behind its back leaves the new value alone.
    await redis.admin.set(slotKey, 'intruder');
    await next.release();
    expect(await redis.admin.get(slotKey)).toBe('intruder');
  }, 20_000);

  it('renewal keeps a held lock past its TTL, and a lock taken away aborts the lease signal once', async () => {
    const group = { role: 'renewal', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const { logger, lines } = recordingLogger();
    const slotLocks = locks({ ttlMs: 1_000, logger });
    const lease = acquired(await slotLocks.acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));

    // Three renewals, one every third of the TTL, carry the lock past its TTL.
    let renewals = 0;
    let lastTtl = await redis.admin.pttl(slotKey);
    await waitFor('three renewals', async () => {
      expect(await redis.admin.get(slotKey)).toBe(lease.token);
      const ttl = await redis.admin.pttl(slotKey);
      if (ttl > lastTtl) renewals++;
      lastTtl = ttl;
      return renewals >= 3;
    });
    expect(lease.signal.aborted).toBe(false);

    await redis.admin.del(slotKey);
    await waitFor('the lease to notice the deleted key', () => lease.signal.aborted);
    expect(lease.signal.reason).toBeInstanceOf(LockLostError);
    expect((lease.signal.reason as LockLostError).code).toBe('lock_lost');
    await lease.release();
    expect(lines.filter((line) => line.level === 40 && /no longer held/.test(line.msg))).toHaveLength(1);

    // Replaced by another token: the same, and the release leaves the other holder's key alone.
    const second = acquired(await slotLocks.acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    await redis.admin.set(slotKey, 'someone-else', 'PX', 60_000);
    await waitFor('the lease to notice the replaced key', () => second.signal.aborted);
    expect(second.signal.reason).toBeInstanceOf(LockLostError);
    await second.release();
    expect(await redis.admin.get(slotKey)).toBe('someone-else');
    await redis.admin.del(slotKey);
  }, 20_000);

  it('fencing: each grant has a higher epoch; confirm renews while the lease is held and fails once it lapsed, and nothing else frees the key first', async () => {
    const group = { role: 'fencing', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const outKey = redisKeys.outOfService(group.role, group.env);
    const holderRedis = client();
    const first = acquired(await locks({ redis: holderRedis, ttlMs: 1_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    expect(await redis.admin.get(redisKeys.epoch(group.role, group.env))).toBe(String(first.epoch));

    // A confirmation is a renewal that Redis answered: the key's TTL is full again.
    await waitFor('the TTL to run down', async () => (await redis.admin.pttl(slotKey)) < 800);
    await first.confirm();
    expect(await redis.admin.pttl(slotKey)).toBeGreaterThan(800);

    // Cut off from Redis (its connection gone): it cannot confirm, and says so before the lease could lapse.
    holderRedis.disconnect();
    const startedAt = Date.now();
    await expect(first.confirm()).rejects.toBeInstanceOf(LockLostError);
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(first.signal.aborted).toBe(true);

    // The key lapses by itself; host-a still counts out of service. With a second place
    // (k = 2), another host takes slot 1 with a higher epoch.
    await waitFor('the lease to lapse', async () => (await redis.admin.exists(slotKey)) === 0);
    expect(await redis.admin.smembers(outKey)).toEqual(['host-a']);
    const second = acquired(await locks().acquire({ group, deployId: 'd1', slots: 2, holder: 'host-b', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    expect(second.slot).toBe(1);
    expect(second.epoch).toBeGreaterThan(first.epoch);

    // host-a serves again (it put its previous version back) and says so with its release,
    // though its lease lapsed: it leaves the out-of-service set; the other holder's key stays.
    const told = await new WaitQueue(redis.admin, group).release(slotKey, 1, first.token, 'host-a');
    expect(told.released).toBe(true);
    expect(await redis.admin.smembers(outKey)).toEqual(['host-b']);
    expect(await redis.admin.get(slotKey)).toBe(second.token);
    await second.confirm();
    await second.release();
    expect(await redis.admin.scard(outKey)).toBe(0);
  }, 20_000);

  it("counts in the agent's metrics each renewal that failed and each lease lost, by group, and nothing while renewals succeed", async () => {
    const group = { role: 'watched', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const metrics = new AgentMetrics({ logger: silent, processMetrics: false });
    const counted = async () => {
      const samples = parseExposition(await metrics.exposition());
      return [valueOf(samples, 'grapevine_agent_lease_renewals_failed_total', group), valueOf(samples, 'grapevine_agent_leases_lost_total', group)];
    };
    const holderRedis = client();
    const slotLocks = locks({ redis: holderRedis, ttlMs: 1_000, leaseWatch: metrics });
    const first = acquired(await slotLocks.acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    await first.confirm();
    await waitFor('a renewal on the timer', async () => (await redis.admin.pttl(slotKey)) > 900);
    expect(await counted()).toEqual([0, 0]);

    // Taken by another token: one renewal finds it and the lease is lost.
    await redis.admin.set(slotKey, 'someone-else', 'PX', 60_000);
    await waitFor('the lease to notice the replaced key', () => first.signal.aborted);
    expect(await counted()).toEqual([1, 1]);
    await first.release();
    await redis.admin.del(slotKey);

    // Cut off from Redis: renewals fail until the lease may have lapsed, then it is lost once.
    const second = acquired(await slotLocks.acquire({ group, deployId: 'd2', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    holderRedis.disconnect();
    await waitFor('the cut-off lease to be lost', () => second.signal.aborted);
    const [failed, lost] = await counted();
    expect(failed).toBeGreaterThanOrEqual(2);
    expect(lost).toBe(2);
    await second.release();
  }, 20_000);
});
