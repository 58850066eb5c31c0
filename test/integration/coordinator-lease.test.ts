// The coordinators' lease against a real redis-server (coordinator/leadership/): one of two
// leads, the other takes over once the leader's lease lapses, and a leader that paused past
// its lease (its renewals held up, as a stopped process's would be) neither leads nor lets its
// watchdog act when it wakes; a deploy's deadline is judged once with two watchdogs running.
import { describe, expect, it } from 'vitest';
import { CoordinatorLease } from '../../coordinator/leadership/coordinator-lease.js';
import { DeployWatchdog } from '../../coordinator/watchdog.js';
import { FleetEventBus } from '../../coordinator/fleet-event-bus.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { LeaseAttempt, LeaseStore } from '../../shared/ports/coordinator-lease.js';
import { RedisLeaseStore } from '../../shared/redis/coordinator-lease-store.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { redisClientsForThisFile } from '../fixtures/redis-server.js';
import { until } from '../fixtures/poll.js';
import { silent } from '../fixtures/slot-lock-redis.js';

const TTL_MS = 1_000;

const client = redisClientsForThisFile();

/** A store whose calls can be held, as a paused process sends nothing until it wakes. */
class PausableStore implements LeaseStore {
  #paused: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  constructor(readonly inner: LeaseStore) {}
  pause(): void {
    this.#paused = new Promise((resolve) => (this.#wake = resolve));
  }
  resume(): void {
    this.#wake?.();
    this.#paused = undefined;
  }
  async hold(token: string, ttlMs: number): Promise<LeaseAttempt> {
    await this.#paused;
    return this.inner.hold(token, ttlMs);
  }
  async holder(): Promise<string | undefined> {
    await this.#paused;
    return this.inner.holder();
  }
  drop(token: string): Promise<boolean> {
    return this.inner.drop(token);
  }
}

describe('the coordinators\' lease on a real redis-server', () => {
  it('one of two leads; the other takes over once the leader stops renewing, in a new epoch; a clean stop hands it over at once', async () => {
    const admin = client();
    const pausable = new PausableStore(new RedisLeaseStore(client()));
    const a = new CoordinatorLease({ store: pausable, name: 'coord-a', ttlMs: TTL_MS, logger: silent });
    const b = new CoordinatorLease({ store: new RedisLeaseStore(client()), name: 'coord-b', ttlMs: TTL_MS, logger: silent });
    await a.start();
    await b.start();
    try {
      expect([a.leading, b.leading]).toEqual([true, false]);
      expect(b.status()).toMatchObject({ name: 'coord-b', leader: false, leaderName: 'coord-a' });
      expect((await admin.get(redisKeys.coordinatorLease()))?.startsWith('coord-a/')).toBe(true);
      const firstEpoch = a.status().epoch!;
      expect(await admin.pttl(redisKeys.coordinatorLease())).toBeGreaterThan(0);
      // Renewed well inside the TTL: still a's, in the same epoch, three TTLs later.
      const since = Date.now();
      await until('three TTLs to pass', () => (Date.now() - since >= 3 * TTL_MS ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 });
      expect(a.status()).toMatchObject({ leader: true, epoch: firstEpoch });
      expect((await admin.get(redisKeys.coordinatorLease()))?.startsWith('coord-a/')).toBe(true);

      // a's renewals stop (as a killed or paused process's would): b holds it within TTL and a renewal interval.
      pausable.pause();
      const stoppedAt = Date.now();
      const tookMs = await until('b to take the lease', () => (b.leading ? Date.now() - stoppedAt : undefined), { timeoutMs: 5_000, intervalMs: 20 });
      console.log(`lease taken over ${tookMs} ms after the holder stopped renewing (TTL ${TTL_MS} ms, renewal every ${b.renewEveryMs} ms)`);
      expect(tookMs).toBeLessThanOrEqual(TTL_MS + b.renewEveryMs + 500);
      expect(a.leading).toBe(false);
      expect(b.status().epoch).toBe(firstEpoch + 1);
      expect(await admin.get(redisKeys.coordinatorLeaseEpoch())).toBe(String(firstEpoch + 1));

      // a wakes: it learns b holds it and stays a follower.
      pausable.resume();
      await a.attempt();
      expect(a.status()).toMatchObject({ leader: false, leaderName: 'coord-b' });
      expect(await a.confirm()).toBe(false);

      // A clean stop gives the lease up: a takes it at its next attempt, not a TTL later.
      await b.stop();
      expect(await admin.exists(redisKeys.coordinatorLease())).toBe(0);
      await a.attempt();
      expect(a.leading).toBe(true);
      expect(a.status().epoch).toBe(firstEpoch + 2);
    } finally {
      pausable.resume();
      await a.stop();
      await b.stop();
    }
  });

  it('a leader paused past its lease does not act when it wakes: its watchdog ends no deploy; the new leader\'s does, once', async () => {
    const store = new RedisDeployStore({ redis: client(), logger: silent });
    const fleet = new RedisFleetState({ redis: client(), logger: silent, host: 'coordinator' });
    const created = await createPastDeadline(store);
    const pausable = new PausableStore(new RedisLeaseStore(client()));
    const a = new CoordinatorLease({ store: pausable, name: 'coord-a', ttlMs: TTL_MS, logger: silent });
    const b = new CoordinatorLease({ store: new RedisLeaseStore(client()), name: 'coord-b', ttlMs: TTL_MS, logger: silent });
    const ended: Array<{ by: string; event: FleetEvent }> = [];
    const watchdog = (name: string, leadership: CoordinatorLease) => {
      const events = new FleetEventBus(silent);
      events.subscribe('test', (event) => void (event.kind === 'deploy.finished' && ended.push({ by: name, event })));
      const membership = { members: async () => [] };
      return new DeployWatchdog({ store, membership, fleet, deadlineMs: 1_000, logger: silent, fleetEvents: events, leadership });
    };
    await a.start();
    await b.start();
    try {
      expect(a.leading).toBe(true);
      // a pauses: its renewals and reads hang while b takes over.
      pausable.pause();
      await until('b to take the lease', () => (b.leading ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
      // a's timer-driven tick runs now, as a woken process's would before any renewal: its own clock says its lease is over.
      expect(a.leading).toBe(false);
      const paused = await watchdog('coord-a', a).tick();
      expect(paused).toEqual({ checked: 0, lost: [], timedOut: [] });
      expect((await store.getDeploy(created))?.status).toBe('in_progress');

      const leaderTick = await watchdog('coord-b', b).tick();
      expect(leaderTick.timedOut).toEqual([created]);
      // Both tick again: the deploy is ended once, by b.
      await Promise.all([watchdog('coord-a', a).tick(), watchdog('coord-b', b).tick()]);
      expect(ended.map((e) => e.by)).toEqual(['coord-b']);
      expect((await store.getDeploy(created))?.status).toBe('failed');
    } finally {
      pausable.resume();
      await a.stop();
      await b.stop();
    }
  });
});

/** A deploy of two hosts created 10 s ago: past the watchdogs' 1 s deadline at their first look. */
async function createPastDeadline(store: RedisDeployStore): Promise<string> {
  const id = 'd-lease0001';
  await store.createDeploy({ id, role: 'web', env: 'production', tag: 'v1', image: '127.0.0.1:5000/web:v1', status: 'in_progress', createdAt: Date.now() - 10_000, targets: ['h1', 'h2'] });
  return id;
}
