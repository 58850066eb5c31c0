// Zone-aware slots against a real redis-server: hosts of three zones take slots at once under
// a deploy's zone rule, sampled from Redis as an operator would (the per-zone out-of-service
// counts), with a 30 s fallback poll so only wake-ups move the queues.
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import type { ZoneRule } from '../../shared/contract/zone-rule.js';
import { silent, slotLockRedis } from '../fixtures/slot-lock-redis.js';
import { pause } from '../../shared/contract/waiting.js';
import type { Redis } from 'ioredis';

const redis = slotLockRedis();
const { client, locks, acquired, waitFor, track } = redis;
const ZONES = ['a', 'b', 'c'];

interface Rollout {
  /** Largest per-zone count Redis showed. */
  mostPerZone: number;
  /** Most zones Redis showed with hosts out at once. */
  mostZones: number;
  /** Most hosts out at once, all zones together (from Redis). */
  mostOut: number;
  tookMs: number;
}

/** `perZone` hosts of each zone, arriving interleaved, each holding `holdMs`; Redis sampled all along. */
async function rollout(role: string, slots: number, perZone: number, zoneRule: ZoneRule, holdMs: number): Promise<Rollout> {
  const group = { role, env: 'test' };
  const zoneOut = redisKeys.zoneOut(group.role, group.env);
  const result: Rollout = { mostPerZone: 0, mostZones: 0, mostOut: 0, tookMs: 0 };
  let sampling = true;
  const watcher = client();
  const sampler = (async () => {
    while (sampling) {
      const counts = Object.values(await watcher.hgetall(zoneOut)).map(Number);
      result.mostPerZone = Math.max(result.mostPerZone, ...counts, 0);
      result.mostZones = Math.max(result.mostZones, counts.filter((n) => n > 0).length);
      result.mostOut = Math.max(result.mostOut, counts.reduce((sum, n) => sum + n, 0));
    }
  })();
  const startedAt = Date.now();
  await Promise.all(
    Array.from({ length: perZone * ZONES.length }, async (_, i) => {
      const zone = ZONES[i % ZONES.length]!;
      const signal = AbortSignal.timeout(25_000);
      const lease = acquired(await locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots, holder: `${zone}-host-${i}`, tag: 'v1', signal, zone, zoneRule }));
      await pause(holdMs);
      await lease.release();
    }),
  );
  result.tookMs = Date.now() - startedAt;
  sampling = false;
  await sampler;
  expect(await watcher.hlen(zoneOut)).toBe(0);
  expect(await watcher.scard(redisKeys.outOfService(group.role, group.env))).toBe(0);
  return result;
}

describe('zone-aware slots on a real redis-server', () => {
  it('--max-per-zone 1: 15 hosts of 3 zones never have more than one host of a zone out, and the zones go side by side', async () => {
    const seen = await rollout('perzone', 6, 5, { kind: 'max-per-zone', max: 1 }, 60);
    console.log(`max-per-zone 1, k = 6, 3 zones x 5 hosts holding 60 ms: done in ${seen.tookMs} ms; most per zone ${seen.mostPerZone}, most out at once ${seen.mostOut}`);
    expect(seen.mostPerZone).toBe(1);
    // No zone waited behind another's cap: three hosts out at once, one per zone.
    expect(seen.mostOut).toBe(3);
  }, 30_000);

  it('--zone-at-a-time: only one zone has hosts out at once, and a zone that drains lets the next one fill its places', async () => {
    const seen = await rollout('onezone', 4, 4, { kind: 'zone-at-a-time' }, 60);
    console.log(`zone at a time, k = 4, 3 zones x 4 hosts holding 60 ms: done in ${seen.tookMs} ms; most zones out at once ${seen.mostZones}, most out at once ${seen.mostOut}`);
    expect(seen.mostZones).toBe(1);
    // The next zone's hosts were woken one after another until its places were full.
    expect(seen.mostOut).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it("a zone at its cap holds up no other zone: zone a's one place stays taken while b and c finish", async () => {
    const group = { role: 'nohol', env: 'test' };
    const zoneRule: ZoneRule = { kind: 'max-per-zone', max: 1 };
    const signal = AbortSignal.timeout(25_000);
    const take = (zone: string, i: number) => locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 3, holder: `${zone}-${i}`, tag: 'v1', signal, zone, zoneRule });
    const first = acquired(await take('a', 0));
    // The zone-a hosts arrive first, so a single queue would put them ahead of b and c; a-1
    // before a-2, so a-1 is the one woken first.
    const zoneAQueued = (n: number) => waitFor(`${n} zone-a hosts queued`, async () => (await redis.admin.zcard(redisKeys.zoneWaiters(group.role, group.env, 'a'))) === n);
    const zoneA = [track(take('a', 1))];
    await zoneAQueued(1);
    zoneA.push(track(take('a', 2)));
    await zoneAQueued(2);
    await Promise.all(
      ['b', 'c'].flatMap((zone) =>
        [1, 2, 3].map(async (i) => {
          const lease = acquired(await take(zone, i));
          await lease.release();
        }),
      ),
    );
    expect(zoneA.some((waiter) => waiter.settled)).toBe(false);
    expect(await redis.admin.hget(redisKeys.zoneOut(group.role, group.env), 'a')).toBe('1');
    // Zone a frees up: its waiters are woken in arrival order, one at a time, without a poll.
    await first.release();
    for (const waiter of zoneA) {
      const lease = acquired(await waiter.promise);
      expect(zoneA.filter((other) => other.settled)).toHaveLength(zoneA.indexOf(waiter) + 1);
      await lease.release();
    }
  }, 30_000);

  it("a host whose zone filled while it held a reserved number gives the number back and wakes the waiter that found none free", async () => {
    const group = { role: 'reserved', env: 'test' };
    const zoneRule: ZoneRule = { kind: 'max-per-zone', max: 1 };
    const signal = AbortSignal.timeout(10_000);
    const take = (zone: string, holder: string, redis = client()) => locks({ redis, pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 3, holder, tag: 'v1', signal, zone, zoneRule });
    const a0 = acquired(await take('a', 'a-0'));
    // A slow host: its call that names the number reserved for it waits until the test lets it go.
    const slow = client();
    const second = gateNamedCalls(slow);
    const slowHost = track(take('b', 'b-slow', slow));
    await second.reached;
    // Zone b fills meanwhile, and zone c's host finds a place but no number: 2 is reserved, 1 and 3 held.
    const b1 = acquired(await take('b', 'b-1'));
    const c1 = track(take('c', 'c-1'));
    await waitFor("zone c's host queued", async () => (await redis.admin.zcard(redisKeys.zoneWaiters(group.role, group.env, 'c'))) === 1);
    second.open();
    // Zone b is at its cap, so b-slow gives number 2 back; only a wake-up can bring c-1 in before its 30 s poll.
    const c1Lease = acquired(await c1.promise);
    expect(c1Lease.slot).toBe(2);
    expect(slowHost.settled).toBe(false);
    expect(await redis.admin.hgetall(redisKeys.zoneOut(group.role, group.env))).toEqual({ a: '1', b: '1', c: '1' });
    await b1.release();
    await acquired(await slowHost.promise).release();
    await Promise.all([a0.release(), c1Lease.release()]);
  }, 30_000);

  it("a dead holder counts against its zone's cap until it serves again, and then its zone's waiter is woken", async () => {
    const group = { role: 'deadzone', env: 'test' };
    const zoneRule: ZoneRule = { kind: 'max-per-zone', max: 1 };
    const signal = AbortSignal.timeout(25_000);
    const deadConnection = client();
    await locks({ redis: deadConnection, ttlMs: 500 }).acquire({ group, deployId: 'd1', slots: 3, holder: 'a-dead', tag: 'v1', signal, zone: 'a', zoneRule });
    deadConnection.disconnect();
    await waitFor('the dead holder lease to lapse', async () => (await redis.admin.exists(redisKeys.slot(group.role, group.env, 1))) === 0);
    const waiting = track(locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 3, holder: 'a-next', tag: 'v1', signal, zone: 'a', zoneRule }));
    // Another zone is not held up by it.
    acquired(await locks().acquire({ group, deployId: 'd1', slots: 3, holder: 'b-1', tag: 'v1', signal, zone: 'b', zoneRule })).release();
    expect(waiting.settled).toBe(false);
    await new RedisFleetState({ redis: client(), logger: silent, host: 'coordinator' }).backInService(group, 'a-dead');
    const lease = acquired(await waiting.promise);
    expect(await redis.admin.hget(redisKeys.zoneOut(group.role, group.env), 'a')).toBe('1');
    await lease.release();
  }, 30_000);
});

/**
 * Holds the acquire script's calls that name a reserved number (its ARGV[8]) on `redis`
 * until `open()`: a host slow between reserving a number and taking it.
 */
function gateNamedCalls(redis: Redis): { reached: Promise<void>; open(): void } {
  let reach!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  const evalsha = redis.evalsha.bind(redis) as (...args: unknown[]) => Promise<unknown>;
  const ACQUIRE_KEYS = 16;
  (redis as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> }).evalsha = async (...args: unknown[]) => {
    const named = args[1] === ACQUIRE_KEYS ? args[2 + ACQUIRE_KEYS + 7] : '';
    if (named !== '' && named !== undefined) {
      reach();
      await opened;
    }
    return evalsha(...args);
  };
  return { reached, open };
}
