// The waiters queue and the deploy counters against a real redis-server: lost hosts, broken
// releases, hosts standing down, and what a waiting host costs Redis.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { RedisScripts } from '../../shared/redis/scripts.js';
import { WaitQueue } from '../../shared/redis/wait-queue.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { DEFAULT_POLL_MS, waitSliceMs, type RedisSlotLease } from '../../shared/redis/slot-locks.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { silent, slotLockRedis } from '../fixtures/slot-lock-redis.js';

const redis = slotLockRedis();
const { client, locks, waitFor, acquired, track, commandCalls, callsDelta, waiters, wakeLists } = redis;

describe('the slot queue on a real redis-server: lost hosts, broken releases, stand-downs, counters', () => {
  it("a lost holder's lease lapses by itself, but it counts against k while out of service: the waiter, polling, waits until it serves again", async () => {
    const group = { role: 'lost', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const outKey = redisKeys.outOfService(group.role, group.env);
    // The lost host's connection goes away: its lease is never released or renewed again.
    const lostRedis = client();
    const lost = acquired(await locks({ redis: lostRedis, ttlMs: 1_000 }).acquire({ group, deployId: 'd1', slots: 2, holder: 'host-lost', tag: 'v1', signal }));
    const other = acquired(await locks({ ttlMs: 60_000 }).acquire({ group, deployId: 'd1', slots: 2, holder: 'host-b', tag: 'v1', signal }));
    expect((await redis.admin.smembers(outKey)).sort()).toEqual(['host-b', 'host-lost']);
    const waiter = track(locks({ pollMs: 200 }).acquire({ group, deployId: 'd1', slots: 2, holder: 'host-c', tag: 'v1', signal }));
    await waitFor('one waiter in the queue', async () => (await waiters(group)) === 1);
    lostRedis.disconnect();

    await waitFor("the lost holder's lease to lapse", async () => (await redis.admin.exists(redisKeys.slot(group.role, group.env, lost.slot))) === 0);
    const fleet = new RedisFleetState({ redis: client(), logger: silent, host: 'coordinator' });
    // Several polls later the waiter still waits: the free key is not a free place against k.
    const beforePolls = await commandCalls();
    await waitFor('five more polls by the waiter', async () => (callsDelta(beforePolls, await commandCalls()).get('evalsha') ?? 0) >= 5);
    expect(waiter.settled).toBe(false);
    expect(await fleet.isOutOfService(group, 'host-lost')).toBe(true);

    // The lost host serves again.
    expect(await fleet.backInService(group, 'host-lost')).toBe(true);
    expect(await fleet.backInService(group, 'host-lost')).toBe(false);
    const taken = acquired(await waiter.promise);
    expect(taken.slot).toBe(lost.slot);
    expect(await redis.admin.get(redisKeys.slot(group.role, group.env, other.slot))).toBe(other.token);
    expect((await redis.admin.smembers(outKey)).sort()).toEqual(['host-b', 'host-c']);
    await Promise.all([taken.release(), other.release()]);
    expect(await redis.admin.scard(outKey)).toBe(0);
  }, 20_000);

  it('a holder that releases without serving again keeps its place against k; back from a crash, it may deploy in its own place', async () => {
    const group = { role: 'stillout', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const first = acquired(await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    await first.release({ outOfService: true });
    expect(await redis.admin.exists(redisKeys.slot(group.role, group.env, 1))).toBe(0);
    // One slot, one host still out: another host may not drain.
    const waiter = track(locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-b', tag: 'v1', signal }));
    await waitFor('host-b waiting', async () => (await waiters(group)) === 1);
    // host-a itself already counts: its next deploy takes the slot without counting twice.
    const again = acquired(await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    expect(await redis.admin.smembers(redisKeys.outOfService(group.role, group.env))).toEqual(['host-a']);
    await again.release();
    const next = acquired(await waiter.promise);
    expect(await redis.admin.smembers(redisKeys.outOfService(group.role, group.env))).toEqual(['host-b']);
    await next.release();
  }, 20_000);

  it('every waiting host stands down with the reason when the release is marked broken', async () => {
    const group = { role: 'broken', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const holder = acquired(await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    const waiting = Array.from({ length: 5 }, () => locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    await waitFor('five waiters in the queue', async () => (await waiters(group)) === 5);

    const fleet = new RedisFleetState({ redis: client(), logger: silent, host: 'host-7' });
    await fleet.markBroken(group, 'v1', 'health check failed');

    // A 30 s poll: only the wake-ups can end these waits within the test's time.
    const results = await Promise.all(waiting);
    expect(results).toEqual(Array.from({ length: 5 }, () => ({ kind: 'broken', reason: 'host-7: health check failed' })));
    expect(await waiters(group)).toBe(0);
    expect(await wakeLists(group)).toEqual([]);

    const mark = JSON.parse((await redis.admin.get(redisKeys.broken(group.role, group.env, 'v1')))!) as Record<string, unknown>;
    expect(mark).toEqual({ reason: 'health check failed', by: 'host-7', at: expect.any(Number) });
    expect(await fleet.brokenMark(group, 'v1')).toEqual(mark);
    expect(await redis.admin.pttl(redisKeys.broken(group.role, group.env, 'v1'))).toBe(-1);
    expect(await fleet.brokenReason(group, 'v1')).toBe('host-7: health check failed');

    // A host arriving later stands down on its first try, without waiting.
    let waited = false;
    const late = await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal, onWait: () => (waited = true) });
    expect(late).toEqual({ kind: 'broken', reason: 'host-7: health check failed' });
    expect(waited).toBe(false);
    await holder.release();
  }, 20_000);

  it('an abort while waiting rejects at once and takes the host out of the queue', async () => {
    const group = { role: 'abort', env: 'test' };
    const holder = acquired(await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    const controller = new AbortController();
    let waits = 0;
    const waiting = locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal: controller.signal, onWait: () => waits++ });
    waiting.catch(() => undefined);
    await waitFor('the waiter in the queue', async () => (await waiters(group)) === 1);
    await waitFor('the waiter blocked on its wake list', async () => /blocked_clients:1\r?\n/.test(await redis.admin.info('clients')));

    controller.abort(new Error('deploy deadline passed'));
    await expect(waiting).rejects.toThrow('deploy deadline passed');
    expect(waits).toBe(1);
    expect(await waiters(group)).toBe(0);
    expect(await wakeLists(group)).toEqual([]);
    await waitFor('the blocking connection to close', async () => /blocked_clients:0\r?\n/.test(await redis.admin.info('clients')));
    await holder.release();
  }, 20_000);

  it('a waiter that stands down hands an unused wake-up to the next waiter', async () => {
    const group = { role: 'passon', env: 'test' };
    const waitersKey = redisKeys.waiters(group.role, group.env);
    const queue = new WaitQueue(redis.admin, group);
    await redis.admin.zadd(waitersKey, '1', 'token-b', '2', 'token-c');
    // token-a was popped by a release and its wake-up is still unread.
    await redis.admin.lpush(queue.wakeKey('token-a'), '0');

    expect(await queue.leave('token-a')).toBe(true);
    expect(await redis.admin.lrange(queue.wakeKey('token-b'), 0, -1)).toEqual(['1']);
    expect(await redis.admin.exists(queue.wakeKey('token-a'))).toBe(0);
    expect(await redis.admin.zrange(waitersKey, '0', '-1')).toEqual(['token-c']);

    // token-c is still queued and was never woken: it owes nobody anything.
    expect(await queue.leave('token-c')).toBe(false);
    expect(await redis.admin.zcard(waitersKey)).toBe(0);
    await redis.admin.del(queue.wakeKey('token-b'));
  });

  it('a wake-up goes only to the waiter the caller read at the head; a head that moved means one more look', async () => {
    const group = { role: 'movedhead', env: 'test' };
    const waitersKey = redisKeys.waiters(group.role, group.env);
    const queue = new WaitQueue(redis.admin, group);
    const scripts = RedisScripts.for(redis.admin);
    await redis.admin.zadd(waitersKey, '5', 'token-now-head');
    const wakeNext = (readHead: string) =>
      scripts.run('wakeNext', [queue.zoneOutKey, queue.waitingZonesKey, waitersKey, queue.wakeKey(readHead)], [30_000, '', 0, '', '', readHead]);

    // The caller read token-gone at the head, which has left since: nobody is woken.
    const before = await commandCalls();
    expect(await wakeNext('token-gone')).toBe('head-changed');
    expect(callsDelta(before, await commandCalls()).get('lpush')).toBeUndefined();
    expect(await redis.admin.zrange(waitersKey, '0', '-1')).toEqual(['token-now-head']);

    // The look again wakes the real head, with its arrival score, and takes it out of the queue.
    expect(await queue.wakeNext()).toBe('woke');
    expect(await redis.admin.lrange(queue.wakeKey('token-now-head'), 0, -1)).toEqual(['5']);
    expect(await redis.admin.zcard(waitersKey)).toBe(0);
    expect(await queue.wakeNext()).toBe('nobody');
    await redis.admin.del(queue.wakeKey('token-now-head'));
  });

  it('counts each host once down to zero, and only the first host sets the counter', async () => {
    const group = { role: 'counter', env: 'test' };
    const fleet = new RedisFleetState({ redis: client(), logger: silent });
    const other = new RedisFleetState({ redis: client(), logger: silent });

    expect(await fleet.initRemaining(group, 'd-count01', 3)).toBe(3);
    expect(await other.initRemaining(group, 'd-count01', 5)).toBe(3);
    const ttl = await redis.admin.ttl(redisKeys.remaining(group.role, group.env, 'd-count01'));
    expect(ttl).toBeGreaterThan(6 * 24 * 3600);
    expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600);

    expect(await fleet.finishHost(group, 'd-count01', 'host-a')).toBe(2);
    expect(await other.finishHost(group, 'd-count01', 'host-a')).toBe(2);
    expect(await other.finishHost(group, 'd-count01', 'host-b')).toBe(1);
    expect(await fleet.finishHost(group, 'd-count01', 'host-c')).toBe(0);
    expect(await fleet.finishHost(group, 'd-count01', 'host-c')).toBe(0);
    expect(await redis.admin.get(redisKeys.remaining(group.role, group.env, 'd-count01'))).toBe('0');
    expect(await redis.admin.smembers(redisKeys.finishedHosts(group.role, group.env, 'd-count01'))).toHaveLength(3);
    expect(await redis.admin.ttl(redisKeys.finishedHosts(group.role, group.env, 'd-count01'))).toBeGreaterThan(6 * 24 * 3600);

    await expect(fleet.finishHost(group, 'd-never01', 'host-a')).rejects.toMatchObject({ code: 'deploy_counter_missing' });
    expect(await fleet.brokenReason(group, 'v9')).toBeNull();
  });

  it('a release hands the freed number to the waiter it wakes, which takes the slot in one script call', async () => {
    const group = { role: 'handover', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const holder = acquired(await locks({ ttlMs: 60_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    const waiter = track(locks({ ttlMs: 60_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-b', tag: 'v1', signal }));
    await waitFor('host-b waiting', async () => (await waiters(group)) === 1);
    await waitFor('host-b blocked on its wake list', async () => /blocked_clients:1\r?\n/.test(await redis.admin.info('clients')));
    const before = await commandCalls();
    await holder.release();
    const taken = acquired(await waiter.promise);
    const delta = callsDelta(before, await commandCalls());
    // The release, the wake-up, and the waiter's one acquire naming the number it was handed.
    expect(taken.slot).toBe(holder.slot);
    expect(delta.get('evalsha')).toBe(3);
    await taken.release();
  });

  it('a host that takes a free slot with nobody waiting wakes nobody: two script calls and no queue read', async () => {
    const group = { role: 'nowaiter', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const first = acquired(await locks({ ttlMs: 60_000 }).acquire({ group, deployId: 'd1', slots: 3, holder: 'host-a', tag: 'v1', signal }));
    const before = await commandCalls();
    // Two places are still free, and no host waits for one.
    const second = acquired(await locks({ ttlMs: 60_000 }).acquire({ group, deployId: 'd1', slots: 3, holder: 'host-b', tag: 'v1', signal }));
    const delta = callsDelta(before, await commandCalls());
    // The out-of-service check, then the script that reserves a number and the one that takes it.
    expect(delta.get('sismember')).toBe(1);
    expect(delta.get('evalsha')).toBe(2);
    expect(delta.get('smembers') ?? 0).toBe(0);
    expect(delta.get('lpush') ?? 0).toBe(0);
    await Promise.all([first.release(), second.release()]);
  });

  it("a waiting host costs Redis at most five commands per poll, its scripts' commands included, whatever the slot count", async () => {
    const measure = async (slots: number) => {
      const group = { role: `cost${slots}`, env: 'test' };
      const holders: RedisSlotLease[] = [];
      for (let i = 0; i < slots; i++) {
        holders.push(acquired(await locks({ ttlMs: 60_000 }).acquire({ group, deployId: 'd1', slots, holder: `host-${i}`, tag: 'v1', signal: AbortSignal.timeout(20_000) })));
      }
      // A short poll shows many whole cycles in a short window; the cost per cycle does not depend on it.
      const controller = new AbortController();
      const waiting = locks({ ttlMs: 60_000, pollMs: 100 }).acquire({ group, deployId: 'd1', slots, holder: 'host-waiting', tag: 'v1', signal: controller.signal });
      waiting.catch(() => undefined);
      await waitFor('the waiter blocked on its wake list', async () => /blocked_clients:1\r?\n/.test(await redis.admin.info('clients')));

      const before = await commandCalls();
      await delay(2_000); // the measuring window itself, not a wait for a condition
      const delta = callsDelta(before, await commandCalls());
      delta.delete('info');
      controller.abort(new Error('done measuring'));
      await expect(waiting).rejects.toThrow('done measuring');
      for (const holder of holders) await holder.release();

      const polls = delta.get('evalsha') ?? 0;
      const all = [...delta.values()].reduce((sum, n) => sum + n, 0);
      console.log(
        `one waiting host, ${slots} slots, ${polls} polls: ${all} commands (${[...delta].map(([n, c]) => `${n}=${c}`).join(', ')}); ` +
          `at the default ${DEFAULT_POLL_MS / 1000} s poll and 15 s lease, with ${Math.ceil(DEFAULT_POLL_MS / waitSliceMs(DEFAULT_POLL_MS, 15_000))} wake-up BLPOPs a poll, that is ${(((all - (delta.get('blpop') ?? 0)) / Math.max(polls, 1) + Math.ceil(DEFAULT_POLL_MS / waitSliceMs(DEFAULT_POLL_MS, 15_000))) * 1000 / DEFAULT_POLL_MS).toFixed(2)} commands/s`,
      );
      expect(delta.get('set') ?? 0).toBe(0);
      return { polls, all };
    };

    for (const slots of [2, 40]) {
      const { polls, all } = await measure(slots);
      expect(polls).toBeGreaterThanOrEqual(5);
      // BLPOP, the acquire script, and EXISTS (both marks), SCARD, ZSCORE inside it; a cycle cut by the window's edges adds at most one more.
      expect(all).toBeLessThanOrEqual(5 * (polls + 1));
    }
  }, 30_000);
});
