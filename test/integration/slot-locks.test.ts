// Slot locks and deploy counters against a real redis-server: what an operator could see in Redis.

import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisScripts } from '../../shared/redis/scripts.js';
import { WaitQueue } from '../../shared/redis/wait-queue.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { DEFAULT_POLL_MS, RedisSlotLocks, type RedisAcquireResult, type RedisSlotLease } from '../../shared/redis/slot-locks.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import { LockLostError } from '../../shared/contract/errors.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { until } from '../fixtures/poll.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });

let server: RedisInstance;
let admin: Redis;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedis();
  admin = client();
});

afterEach(async () => {
  // Every test leaves its clients closed, so the next one (and the command count) starts quiet.
  await Promise.all(clients.splice(1).map((c) => c.quit().catch(() => c.disconnect())));
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  await server?.[Symbol.asyncDispose]();
});

/** One connection per simulated host, as on a real fleet. */
function client(): Redis {
  const c = new Redis(server.url, { maxRetriesPerRequest: 1 });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

function locks(options: { ttlMs?: number; pollMs?: number; logger?: typeof silent; redis?: Redis } = {}) {
  return new RedisSlotLocks({
    redis: options.redis ?? client(),
    ttlMs: options.ttlMs ?? 10_000,
    logger: options.logger ?? silent,
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
  });
}

function recordingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, lines };
}

async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  await until(what, async () => ((await condition()) ? true : undefined), { timeoutMs, intervalMs: 20 });
}

function acquired(result: RedisAcquireResult): RedisSlotLease {
  if (result.kind !== 'acquired') throw new Error(`expected a slot, got ${JSON.stringify(result)}`);
  return result.lease;
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, promise };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

async function keysMatching(pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

async function commandCalls(): Promise<Map<string, number>> {
  const info = await admin.info('commandstats');
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

function callsDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [name, count] of after) {
    const d = count - (before.get(name) ?? 0);
    if (d > 0) delta.set(name, d);
  }
  return delta;
}

const waiters = (group: DeployGroup) => admin.zcard(redisKeys.waiters(group.role, group.env));
const wakeLists = (group: DeployGroup) => keysMatching(redisKeys.wake(group.role, group.env, '*'));

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
        const lease = acquired(await contender.acquire({ group, slots, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(30_000) }));
        holding++;
        mostHolding = Math.max(mostHolding, holding);
        if (heldSlots.has(lease.slot)) problems.push(`slot ${lease.slot} granted twice`);
        heldSlots.add(lease.slot);
        const slotKey = redisKeys.slot(group.role, group.env, lease.slot);
        if ((await admin.get(slotKey)) !== lease.token) problems.push(`slot ${lease.slot} key does not hold its holder's token`);
        // The "deploy": a short, random hold.
        await delay(20 + Math.floor(Math.random() * 60));
        if ((await admin.get(slotKey)) !== lease.token) problems.push(`slot ${lease.slot} key changed while held`);
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
    const holder = acquired(await locks().acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal }));

    // A 30 s poll means only a wake-up can hand the slot over within the test's time.
    const queue = [];
    for (let i = 1; i <= 3; i++) {
      queue.push(track(locks({ pollMs: 30_000 }).acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal })));
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

  it('a holder that dies keeps its slot until the TTL ends, then a waiter gets it', async () => {
    const group = { role: 'deadholder', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const holderRedis = client();
    const holder = acquired(await locks({ redis: holderRedis, ttlMs: 1_500 }).acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));

    const waiter = track(locks({ ttlMs: 1_500, pollMs: 200 }).acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    await waitFor('the waiter in the queue', async () => (await waiters(group)) === 1);

    // Dies without releasing: its connection is gone, so it cannot renew either.
    holderRedis.disconnect();
    expect(await admin.get(slotKey)).toBe(holder.token);
    expect(await admin.pttl(slotKey)).toBeGreaterThan(0);
    expect(waiter.settled).toBe(false);

    const lease = acquired(await waiter.promise);
    expect(lease.slot).toBe(1);
    expect(await admin.get(slotKey)).toBe(lease.token);
    await waitFor('the dead holder to notice its loss', () => holder.signal.aborted);
    expect(holder.signal.reason).toBeInstanceOf(LockLostError);
    await lease.release();
  }, 20_000);

  it('a wake-up sent to a waiter that died is made up for by the next poll', async () => {
    const group = { role: 'deadwaiter', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const holder = acquired(await locks().acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal }));
    const waiter = track(locks({ pollMs: 300 }).acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal }));
    await waitFor('the waiter in the queue', async () => (await waiters(group)) === 1);
    // A host that queued earlier and then crashed: first in line, never reads its wake list.
    await admin.zadd(redisKeys.waiters(group.role, group.env), '0', 'crashed-host');

    await holder.release();
    const lease = acquired(await waiter.promise);
    expect(lease.slot).toBe(1);
    expect(await admin.zrange(redisKeys.waiters(group.role, group.env), '0', '-1')).toEqual([]);
    await lease.release();
    await admin.del(redisKeys.wake(group.role, group.env, 'crashed-host'));
  }, 20_000);

  it('a release by a non-holder changes nothing and wakes nobody', async () => {
    const group = { role: 'nonholder', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const signal = AbortSignal.timeout(20_000);
    const lease = acquired(await locks().acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal }));
    const waiter = track(locks({ pollMs: 30_000 }).acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal }));
    await waitFor('the waiter in the queue', async () => (await waiters(group)) === 1);

    const before = await commandCalls();
    const outcome = await new WaitQueue(admin, group).release(slotKey, 'not-the-holder');
    expect(outcome).toEqual({ released: false });
    expect(await admin.get(slotKey)).toBe(lease.token);
    expect(await waiters(group)).toBe(1);
    expect(callsDelta(before, await commandCalls()).get('lpush')).toBeUndefined();

    // Releasing twice is safe: the second call does nothing.
    await lease.release();
    await lease.release();
    const next = acquired(await waiter.promise);
    expect(await admin.get(slotKey)).toBe(next.token);

    // A lease whose key was taken behind its back leaves the new value alone.
    await admin.set(slotKey, 'intruder');
    await next.release();
    expect(await admin.get(slotKey)).toBe('intruder');
  }, 20_000);

  it('renewal keeps a held lock past its TTL, and a lock taken away aborts the lease signal once', async () => {
    const group = { role: 'renewal', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const { logger, lines } = recordingLogger();
    const slotLocks = locks({ ttlMs: 1_000, logger });
    const lease = acquired(await slotLocks.acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));

    // Three renewals at TTL/2 carry the lock past 1.5 TTLs.
    let renewals = 0;
    let lastTtl = await admin.pttl(slotKey);
    await waitFor('three renewals', async () => {
      expect(await admin.get(slotKey)).toBe(lease.token);
      const ttl = await admin.pttl(slotKey);
      if (ttl > lastTtl) renewals++;
      lastTtl = ttl;
      return renewals >= 3;
    });
    expect(lease.signal.aborted).toBe(false);

    await admin.del(slotKey);
    await waitFor('the lease to notice the deleted key', () => lease.signal.aborted);
    expect(lease.signal.reason).toBeInstanceOf(LockLostError);
    expect((lease.signal.reason as LockLostError).code).toBe('lock_lost');
    await lease.release();
    expect(lines.filter((line) => line.level === 40 && /no longer held/.test(line.msg))).toHaveLength(1);

    // Replaced by another token: the same, and the release leaves the other holder's key alone.
    const second = acquired(await slotLocks.acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    await admin.set(slotKey, 'someone-else', 'PX', 60_000);
    await waitFor('the lease to notice the replaced key', () => second.signal.aborted);
    expect(second.signal.reason).toBeInstanceOf(LockLostError);
    await second.release();
    expect(await admin.get(slotKey)).toBe('someone-else');
    await admin.del(slotKey);
  }, 20_000);

  it('the slots of a lost host are freed by its name at once, and the next waiter takes over', async () => {
    const group = { role: 'lost', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    // The lost host's lease is never released or renewed again: only its lock key remains.
    const lost = acquired(await locks({ ttlMs: 60_000 }).acquire({ group, slots: 2, holder: 'host-lost', tag: 'v1', signal }));
    const other = acquired(await locks({ ttlMs: 60_000 }).acquire({ group, slots: 2, holder: 'host-b', tag: 'v1', signal }));
    const waiter = track(locks({ pollMs: 30_000 }).acquire({ group, slots: 2, holder: 'host-c', tag: 'v1', signal }));
    await waitFor('one waiter in the queue', async () => (await waiters(group)) === 1);

    const fleet = new RedisFleetState({ redis: client(), logger: silent, host: 'coordinator' });
    expect(await fleet.freeSlotsOf(group, 'host-nobody', 2)).toEqual([]);
    expect(await fleet.freeSlotsOf(group, 'host-lost', 2)).toEqual([lost.slot]);

    // A 30 s poll: only the wake-up sent by the freeing can end this wait in time.
    const taken = acquired(await waiter.promise);
    expect(taken.slot).toBe(lost.slot);
    expect(await admin.get(redisKeys.slot(group.role, group.env, other.slot))).toBe(other.token);
    await Promise.all([taken.release(), other.release()]);
  }, 20_000);

  it('every waiting host stands down with the reason when the release is marked broken', async () => {
    const group = { role: 'broken', env: 'test' };
    const signal = AbortSignal.timeout(20_000);
    const holder = acquired(await locks().acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal }));
    const waiting = Array.from({ length: 5 }, () => locks({ pollMs: 30_000 }).acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal }));
    await waitFor('five waiters in the queue', async () => (await waiters(group)) === 5);

    const fleet = new RedisFleetState({ redis: client(), logger: silent, host: 'host-7' });
    await fleet.markBroken(group, 'v1', 'health check failed');

    // A 30 s poll: only the wake-ups can end these waits within the test's time.
    const results = await Promise.all(waiting);
    expect(results).toEqual(Array.from({ length: 5 }, () => ({ kind: 'broken', reason: 'host-7: health check failed' })));
    expect(await waiters(group)).toBe(0);
    expect(await wakeLists(group)).toEqual([]);

    const mark = JSON.parse((await admin.get(redisKeys.broken(group.role, group.env, 'v1')))!) as Record<string, unknown>;
    expect(mark).toEqual({ reason: 'health check failed', by: 'host-7', at: expect.any(Number) });
    expect(await fleet.brokenMark(group, 'v1')).toEqual(mark);
    expect(await admin.pttl(redisKeys.broken(group.role, group.env, 'v1'))).toBe(-1);
    expect(await fleet.brokenReason(group, 'v1')).toBe('host-7: health check failed');

    // A host arriving later stands down on its first try, without waiting.
    let waited = false;
    const late = await locks().acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal, onWait: () => (waited = true) });
    expect(late).toEqual({ kind: 'broken', reason: 'host-7: health check failed' });
    expect(waited).toBe(false);
    await holder.release();
  }, 20_000);

  it('an abort while waiting rejects at once and takes the host out of the queue', async () => {
    const group = { role: 'abort', env: 'test' };
    const holder = acquired(await locks().acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(20_000) }));
    const controller = new AbortController();
    let waits = 0;
    const waiting = locks({ pollMs: 30_000 }).acquire({ group, slots: 1, holder: 'host-a', tag: 'v1', signal: controller.signal, onWait: () => waits++ });
    waiting.catch(() => undefined);
    await waitFor('the waiter in the queue', async () => (await waiters(group)) === 1);
    await waitFor('the waiter blocked on its wake list', async () => /blocked_clients:1\r?\n/.test(await admin.info('clients')));

    controller.abort(new Error('deploy deadline passed'));
    await expect(waiting).rejects.toThrow('deploy deadline passed');
    expect(waits).toBe(1);
    expect(await waiters(group)).toBe(0);
    expect(await wakeLists(group)).toEqual([]);
    await waitFor('the blocking connection to close', async () => /blocked_clients:0\r?\n/.test(await admin.info('clients')));
    await holder.release();
  }, 20_000);

  it('a waiter that stands down hands an unused wake-up to the next waiter', async () => {
    const group = { role: 'passon', env: 'test' };
    const waitersKey = redisKeys.waiters(group.role, group.env);
    const queue = new WaitQueue(admin, group);
    await admin.zadd(waitersKey, '1', 'token-b', '2', 'token-c');
    // token-a was popped by a release and its wake-up is still unread.
    await admin.lpush(queue.wakeKey('token-a'), '0');

    expect(await queue.leave('token-a')).toBe(true);
    expect(await admin.lrange(queue.wakeKey('token-b'), 0, -1)).toEqual(['1']);
    expect(await admin.exists(queue.wakeKey('token-a'))).toBe(0);
    expect(await admin.zrange(waitersKey, '0', '-1')).toEqual(['token-c']);

    // token-c is still queued and was never woken: it owes nobody anything.
    expect(await queue.leave('token-c')).toBe(false);
    expect(await admin.zcard(waitersKey)).toBe(0);
    await admin.del(queue.wakeKey('token-b'));
  });

  it('a wake-up goes only to the waiter the caller read at the head; a head that moved means one more look', async () => {
    const group = { role: 'movedhead', env: 'test' };
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    const waitersKey = redisKeys.waiters(group.role, group.env);
    const queue = new WaitQueue(admin, group);
    const scripts = RedisScripts.for(admin);
    await admin.set(slotKey, 'holder-token');
    await admin.zadd(waitersKey, '5', 'token-now-head');

    // The caller read token-gone at the head, which has left since: the slot is freed, nobody is woken.
    const before = await commandCalls();
    const outcome = await scripts.run('releaseSlot', [slotKey, waitersKey, queue.wakeKey('token-gone')], ['holder-token', 'token-gone', 30_000]);
    expect(outcome).toEqual({ released: true, wake: 'head-changed' });
    expect(await admin.exists(slotKey)).toBe(0);
    expect(callsDelta(before, await commandCalls()).get('lpush')).toBeUndefined();
    expect(await admin.zrange(waitersKey, '0', '-1')).toEqual(['token-now-head']);

    // The look again wakes the real head, with its arrival score, and takes it out of the queue.
    expect(await queue.wakeHead()).toBe('woke');
    expect(await admin.lrange(queue.wakeKey('token-now-head'), 0, -1)).toEqual(['5']);
    expect(await admin.zcard(waitersKey)).toBe(0);
    expect(await queue.wakeHead()).toBe('nobody');
    await admin.del(queue.wakeKey('token-now-head'));
  });

  it('counts each host once down to zero, and only the first host sets the counter', async () => {
    const group = { role: 'counter', env: 'test' };
    const fleet = new RedisFleetState({ redis: client(), logger: silent });
    const other = new RedisFleetState({ redis: client(), logger: silent });

    expect(await fleet.initRemaining(group, 'd-count01', 3)).toBe(3);
    expect(await other.initRemaining(group, 'd-count01', 5)).toBe(3);
    const ttl = await admin.ttl(redisKeys.remaining(group.role, group.env, 'd-count01'));
    expect(ttl).toBeGreaterThan(6 * 24 * 3600);
    expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600);

    expect(await fleet.finishHost(group, 'd-count01', 'host-a')).toBe(2);
    expect(await other.finishHost(group, 'd-count01', 'host-a')).toBe(2);
    expect(await other.finishHost(group, 'd-count01', 'host-b')).toBe(1);
    expect(await fleet.finishHost(group, 'd-count01', 'host-c')).toBe(0);
    expect(await fleet.finishHost(group, 'd-count01', 'host-c')).toBe(0);
    expect(await admin.get(redisKeys.remaining(group.role, group.env, 'd-count01'))).toBe('0');
    expect(await admin.smembers(redisKeys.finishedHosts(group.role, group.env, 'd-count01'))).toHaveLength(3);
    expect(await admin.ttl(redisKeys.finishedHosts(group.role, group.env, 'd-count01'))).toBeGreaterThan(6 * 24 * 3600);

    await expect(fleet.finishHost(group, 'd-never01', 'host-a')).rejects.toMatchObject({ code: 'deploy_counter_missing' });
    expect(await fleet.brokenReason(group, 'v9')).toBeNull();
  });

  it("a waiting host costs Redis at most five commands per poll, its scripts' commands included, whatever the slot count", async () => {
    const measure = async (slots: number) => {
      const group = { role: `cost${slots}`, env: 'test' };
      const holders: RedisSlotLease[] = [];
      for (let i = 0; i < slots; i++) {
        holders.push(acquired(await locks({ ttlMs: 60_000 }).acquire({ group, slots, holder: `host-${i}`, tag: 'v1', signal: AbortSignal.timeout(20_000) })));
      }
      // A short poll shows many whole cycles in a short window; the cost per cycle does not depend on it.
      const controller = new AbortController();
      const waiting = locks({ ttlMs: 60_000, pollMs: 100 }).acquire({ group, slots, holder: 'host-waiting', tag: 'v1', signal: controller.signal });
      waiting.catch(() => undefined);
      await waitFor('the waiter blocked on its wake list', async () => /blocked_clients:1\r?\n/.test(await admin.info('clients')));

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
          `at the default ${DEFAULT_POLL_MS / 1000} s poll that is ${((all / Math.max(polls, 1)) * 1000 / DEFAULT_POLL_MS).toFixed(2)} commands/s`,
      );
      expect(delta.get('set') ?? 0).toBe(0);
      return { polls, all };
    };

    for (const slots of [2, 40]) {
      const { polls, all } = await measure(slots);
      expect(polls).toBeGreaterThanOrEqual(5);
      // BLPOP, the acquire script, and EXISTS, EXISTS, ZSCORE inside it; a cycle cut by the window's edges adds at most one more.
      expect(all).toBeLessThanOrEqual(5 * (polls + 1));
    }
  }, 30_000);
});
