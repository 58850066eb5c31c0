// A freeze and a deploy's gate against a real redis-server: hosts frozen or gated out are
// held aside (no slot, not in the waiters queue), an unfreeze or an opened gate lets them
// through in arrival order, a broken mark still reaches them, and a release still wakes
// the waiting host a gate lets through.
import { describe, expect, it } from 'vitest';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { DEFAULT_POLL_MS } from '../../shared/redis/slot-locks.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import { silent, slotLockRedis } from '../fixtures/slot-lock-redis.js';

const redis = slotLockRedis();
const { client, locks, waitFor, acquired, track, commandCalls, callsDelta, waiters } = redis;

const held = (group: DeployGroup) => redis.admin.zcard(redisKeys.held(group.role, group.env));
/** The holders (a token's name part) in the waiters set, oldest first. */
const queuedHosts = async (group: DeployGroup) => (await redis.admin.zrange(redisKeys.waiters(group.role, group.env), '0', '-1')).map((token) => token.split('/')[0]);
const slotKeys = async (group: DeployGroup, slots: number) =>
  (await redis.admin.mget(...Array.from({ length: slots }, (_, i) => redisKeys.slot(group.role, group.env, i + 1)))).map((token) => token?.split('/')[0] ?? null);
const fleet = () => new RedisFleetState({ redis: client(), logger: silent });

describe('freeze and deploy gate on a real redis-server', () => {
  it('hosts a gate leaves out stay held with a slot free; a host it lets in takes it; opening the gate lets them through in arrival order', async () => {
    const group = { role: 'gated', env: 'test' };
    const signal = AbortSignal.timeout(30_000);
    const acquire = (holder: string, pollMs = 100) => locks({ pollMs }).acquire({ group, deployId: 'd-canary', slots: 2, holder, tag: 'v2', signal });
    await fleet().closeGate(group, 'd-canary', ['canary-1', 'canary-2']);
    expect(await redis.admin.pttl(redisKeys.gate(group.role, group.env, 'd-canary'))).toBeGreaterThan(60_000);

    const canary = acquired(await acquire('canary-1'));
    // Arrivals one after another, so their order is known.
    const gatedOut = [];
    for (const host of ['host-a', 'host-b', 'host-c']) {
      gatedOut.push(track(acquire(host)));
      await waitFor(`${host} held`, async () => (await held(group)) === gatedOut.length);
    }
    // Polling every 100 ms, each held host looks again and again; slot 2 stays free.
    const before = await commandCalls();
    await waitFor('fifteen more polls by the held hosts', async () => (callsDelta(before, await commandCalls()).get('evalsha') ?? 0) >= 15);
    expect(await slotKeys(group, 2)).toEqual(['canary-1', null]);
    expect(await waiters(group)).toBe(0);
    expect(gatedOut.some((host) => host.settled)).toBe(false);

    // The other canary host is let in at once, past the held ones.
    const secondCanary = acquired(await acquire('canary-2'));
    expect(await slotKeys(group, 2)).toEqual(['canary-1', 'canary-2']);

    await fleet().openGate(group, 'd-canary');
    expect(await redis.admin.exists(redisKeys.gate(group.role, group.env, 'd-canary'))).toBe(0);
    await waitFor('the three queued again', async () => (await waiters(group)) === 3);
    expect(await held(group)).toBe(0);
    expect(await queuedHosts(group)).toEqual(['host-a', 'host-b', 'host-c']);

    // Each release goes to the oldest of them.
    await canary.release();
    const a = acquired(await gatedOut[0]!.promise);
    expect(a.token.startsWith('host-a/')).toBe(true);
    await secondCanary.release();
    const b = acquired(await gatedOut[1]!.promise);
    expect(b.token.startsWith('host-b/')).toBe(true);
    await a.release();
    const c = acquired(await gatedOut[2]!.promise);
    expect(c.token.startsWith('host-c/')).toBe(true);
    await Promise.all([b.release(), c.release()]);
  }, 30_000);

  it('a waiting host the gate lets in is woken by a release at once, though gated-out hosts arrived before it', async () => {
    const group = { role: 'gatewake', env: 'test' };
    const signal = AbortSignal.timeout(30_000);
    // A 30 s poll: only a wake-up can end the canary host's wait within the test's time.
    const acquire = (holder: string) => locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd-canary', slots: 1, holder, tag: 'v2', signal });
    await fleet().closeGate(group, 'd-canary', ['canary-1', 'canary-2']);
    const first = acquired(await acquire('canary-1'));
    const gatedOut = [track(acquire('host-a')), track(acquire('host-b'))];
    await waitFor('two hosts held', async () => (await held(group)) === 2);
    const second = track(acquire('canary-2'));
    await waitFor('the second canary host waiting', async () => (await waiters(group)) === 1);
    expect(await queuedHosts(group)).toEqual(['canary-2']);

    const releasedAt = Date.now();
    await first.release();
    const lease = acquired(await second.promise);
    console.log(`gated-out hosts held: the waiting canary host took the released slot ${Date.now() - releasedAt} ms after the release (fallback poll: 30 000 ms)`);
    expect(lease.token.startsWith('canary-2/')).toBe(true);
    expect(gatedOut.some((host) => host.settled)).toBe(false);
    await lease.release();

    // The rest stand down when the deploy is stopped: a stop mark reaches held hosts too.
    await fleet().stopDeploy(group, 'd-canary', 'past its deadline');
    expect(await Promise.all(gatedOut.map((host) => host.promise))).toEqual([{ kind: 'stopped' }, { kind: 'stopped' }]);
    expect(await held(group)).toBe(0);
  }, 30_000);

  it('a freeze holds waiting hosts (the holder finishes its host), keeps no slot taken, and an unfreeze resumes them in arrival order', async () => {
    const group = { role: 'frozen', env: 'test' };
    const signal = AbortSignal.timeout(30_000);
    const control = fleet();
    const acquire = (holder: string) => locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 1, holder, tag: 'v2', signal });
    const holder = acquired(await acquire('host-a'));
    const waiting = [track(acquire('host-b'))];
    await waitFor('host-b waiting', async () => (await waiters(group)) === 1);
    waiting.push(track(acquire('host-c')));
    await waitFor('host-c waiting', async () => (await waiters(group)) === 2);

    const mark = { reason: 'release train', by: 'operator ops', at: Date.now() };
    await control.freeze(group, mark);
    expect(await control.frozen(group)).toEqual(mark);
    // The holder goes on and releases; the wake-up it hands to host-b is passed on, and both end up held.
    await holder.release();
    await waitFor('both waiting hosts held', async () => (await held(group)) === 2 && (await waiters(group)) === 0);
    expect(await slotKeys(group, 1)).toEqual([null]);
    expect(await redis.admin.scard(redisKeys.outOfService(group.role, group.env))).toBe(0);
    // A new arrival is held too, behind them.
    waiting.push(track(acquire('host-d')));
    await waitFor('host-d held', async () => (await held(group)) === 3);
    expect(waiting.some((host) => host.settled)).toBe(false);

    expect(await control.unfreeze(group)).toEqual(mark);
    expect(await control.frozen(group)).toBeNull();
    expect(await control.unfreeze(group)).toBeNull();
    const b = acquired(await waiting[0]!.promise);
    expect(b.token.startsWith('host-b/')).toBe(true);
    await waitFor('the other two queued again', async () => (await waiters(group)) === 2);
    expect(await queuedHosts(group)).toEqual(['host-c', 'host-d']);
    await b.release();
    const c = acquired(await waiting[1]!.promise);
    await c.release();
    const d = acquired(await waiting[2]!.promise);
    expect([c.token.split('/')[0], d.token.split('/')[0]]).toEqual(['host-c', 'host-d']);
    await d.release();
  }, 30_000);

  it('a broken mark reaches frozen-out hosts: they stand down with its reason', async () => {
    const group = { role: 'frozenbroken', env: 'test' };
    const signal = AbortSignal.timeout(30_000);
    await fleet().freeze(group, { reason: 'incident', by: 'operator ops', at: Date.now() });
    const frozenOut = Array.from({ length: 3 }, (_, i) => locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 2, holder: `host-${i}`, tag: 'v2', signal }));
    await waitFor('three held', async () => (await held(group)) === 3);
    await new RedisFleetState({ redis: client(), logger: silent, host: 'host-9' }).markBroken(group, 'v2', 'health check failed');
    expect(await Promise.all(frozenOut)).toEqual(Array.from({ length: 3 }, () => ({ kind: 'broken', reason: 'host-9: health check failed' })));
    expect(await held(group)).toBe(0);
  }, 30_000);

  it('a freeze with an end lapses by itself and held hosts find it on their next poll; what a held host costs Redis per poll', async () => {
    const group = { role: 'lapse', env: 'test' };
    const signal = AbortSignal.timeout(30_000);
    const control = fleet();
    await control.freeze(group, { reason: 'short', by: 'operator ops', at: Date.now(), until: Date.now() + 1_500 });
    const ttl = await redis.admin.pttl(redisKeys.freeze(group.role, group.env));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_500);
    const frozenOut = track(locks({ pollMs: 100 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v2', signal }));
    await waitFor('host-a held', async () => (await held(group)) === 1);

    const before = await commandCalls();
    // The measuring window: until the held host has polled five times (about 500 ms at its 100 ms poll).
    await waitFor('five polls by the held host', async () => (callsDelta(before, await commandCalls()).get('evalsha') ?? 0) >= 5);
    const delta = callsDelta(before, await commandCalls());
    delta.delete('info');
    delta.delete('mget');
    delta.delete('zcard');
    const polls = delta.get('evalsha') ?? 0;
    const all = [...delta.values()].reduce((sum, n) => sum + n, 0);
    console.log(
      `one held host, ${polls} polls: ${all} commands (${[...delta].map(([n, c]) => `${n}=${c}`).join(', ')}); ` +
        `at the default ${DEFAULT_POLL_MS / 1000} s poll that is ${((all / Math.max(polls, 1)) * 1000 / DEFAULT_POLL_MS).toFixed(2)} commands/s`,
    );
    expect(polls).toBeGreaterThanOrEqual(2);
    // BLPOP, the script, EXISTS three times and ZSCORE; a cycle cut by the window's edges adds at most one more.
    expect(all).toBeLessThanOrEqual(6 * (polls + 1));
    expect(frozenOut.settled).toBe(false);

    const lease = acquired(await frozenOut.promise);
    expect(await control.frozen(group)).toBeNull();
    expect(await held(group)).toBe(0);
    await lease.release();
  }, 30_000);

  it('an abandoned held host leaves the held set', async () => {
    const group = { role: 'heldabort', env: 'test' };
    const controller = new AbortController();
    await fleet().freeze(group, { reason: 'x', by: 'operator ops', at: Date.now() });
    const frozenOut = locks({ pollMs: 30_000 }).acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v2', signal: controller.signal });
    await waitFor('host-a held', async () => (await held(group)) === 1);
    controller.abort(new Error('deploy aborted'));
    await expect(frozenOut).rejects.toThrow('deploy aborted');
    await waitFor('the held set empty', async () => (await held(group)) === 0);
    await fleet().unfreeze(group);
  }, 30_000);
});
