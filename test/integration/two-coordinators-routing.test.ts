// Two coordinators over one Redis and one relay (a real HAProxy behind it), each with its own
// group locks meeting only in Redis, as two coordinator processes do: an operator's route set
// (or default) towards a cluster on one and a retire of that cluster on the other, fired at the
// same moment again and again, never both succeed: no route ever points at a retired cluster,
// in the store or in what the relay applied.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CoordinatorGroupLocks } from '../../coordinator/leadership/group-lock.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { RedisGroupLockStore } from '../../shared/redis/group-lock-store.js';
import type { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { ROUTES, routedCoordinator } from '../fixtures/routed-coordinator.js';

const silent = pino({ level: 'silent' });
const routed = routedCoordinator();
const RETIRE_WHITE = '/v1/groups/web/production/clusters/white/retire';
/** Rounds per racing pair: each round is a handful of relay calls. */
const ROUNDS = 12;

function twoCoordinators(): [CoordinatorHarness, CoordinatorHarness] {
  const locks = (name: string) => new CoordinatorGroupLocks({ store: new RedisGroupLockStore(routed.redis), name, logger: silent });
  return [routed.another({ groupLocks: locks('coordinator-1') }), routed.another({ groupLocks: locks('coordinator-2') })];
}

/** White in service and routed to by nothing, red the default: where every round starts. */
async function startOfRound(a: CoordinatorHarness): Promise<void> {
  await routed.redis.del(redisKeys.retiredClusters('web', 'production'));
  expect((await a.call('PUT', `${ROUTES}/default`, { cluster: 'red' })).status).toBe(200);
  const table = (await a.call('GET', ROUTES)).body as { routes: { client: string }[] };
  for (const route of table.routes) expect((await a.call('DELETE', `${ROUTES}?client=${encodeURIComponent(route.client)}`)).status).toBe(200);
}

/** What an operator would check: a retired white has nothing pointing at it, in the store and in the load balancer's table. */
async function expectNothingRoutedToRetired(round: string): Promise<void> {
  const retired = (await routed.redis.hexists(redisKeys.retiredClusters('web', 'production'), 'white')) === 1;
  const stored = (await routed.storedRoutes()) as { routes: { cluster: string }[]; defaultCluster: string };
  const applied = await routed.appliedRoutes();
  expect(applied, round).toEqual(stored);
  if (!retired) return;
  expect(stored.defaultCluster, round).not.toBe('white');
  expect(stored.routes.filter((route) => route.cluster === 'white'), round).toEqual([]);
}

describe('route changes and retires sent to two coordinators at once', () => {
  it('a route set towards a cluster and its retire: one of the two is refused, every round', async () => {
    const [a, b] = twoCoordinators();
    const outcomes: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round += 1) {
      await startOfRound(a);
      // Each coordinator takes each side in turn.
      const [router, retirer] = round % 2 === 0 ? [a, b] : [b, a];
      const [route, retire] = await Promise.all([router.call('POST', ROUTES, { client: '>=1.1', cluster: 'white' }), retirer.call('POST', RETIRE_WHITE)]);
      const name = `round ${round}: route ${route.status} ${JSON.stringify(route.body?.error ?? '')}, retire ${retire.status} ${JSON.stringify(retire.body?.error ?? '')}`;
      expect([route.status, retire.status].sort(), name).toEqual([200, 409]);
      const refused = route.status === 409 ? route.body.error.code : retire.body.error.code;
      expect(refused, name).toBe(route.status === 409 ? 'cluster_retired' : 'cluster_routed');
      outcomes[route.status === 200 ? 'route first' : 'retire first'] = (outcomes[route.status === 200 ? 'route first' : 'retire first'] ?? 0) + 1;
      await expectNothingRoutedToRetired(name);
    }
    console.log(`route set vs retire on two coordinators, ${ROUNDS} rounds: ${JSON.stringify(outcomes)}`);
  });

  it('the default moved to a cluster and its retire: one of the two is refused, every round', async () => {
    const [a, b] = twoCoordinators();
    for (let round = 0; round < ROUNDS; round += 1) {
      await startOfRound(a);
      const [mover, retirer] = round % 2 === 0 ? [a, b] : [b, a];
      const [moved, retire] = await Promise.all([mover.call('PUT', `${ROUTES}/default`, { cluster: 'white' }), retirer.call('POST', RETIRE_WHITE)]);
      const name = `round ${round}: default ${moved.status} ${JSON.stringify(moved.body?.error ?? '')}, retire ${retire.status} ${JSON.stringify(retire.body?.error ?? '')}`;
      expect([moved.status, retire.status].sort(), name).toEqual([200, 409]);
      await expectNothingRoutedToRetired(name);
    }
  });

  it('a change that cannot have the group within the wait is refused 503 group_busy, naming the group and the holder, and changes nothing', async () => {
    const locks = new CoordinatorGroupLocks({ store: new RedisGroupLockStore(routed.redis), name: 'coordinator-1', logger: silent, waitMs: 300 });
    const a = routed.another({ groupLocks: locks });
    // The other coordinator holds the group, as it would in the middle of a retire.
    await routed.redis.set(redisKeys.groupLock('web', 'production'), 'coordinator-2/cluster-retire/0f9e', 'PX', 10_000);
    const before = await routed.storedRoutes();
    const busy = await a.call('POST', ROUTES, { client: '>=1.1', cluster: 'white' });
    expect(busy.status).toBe(503);
    expect(busy.body.error.code).toBe('group_busy');
    expect(busy.body.error.message).toContain('web/production');
    expect(busy.body.error.message).toContain('coordinator coordinator-2 for a cluster-retire');
    expect(await routed.storedRoutes()).toEqual(before);
    // Once it is free, the same change goes through, and the lock is left free.
    await routed.redis.del(redisKeys.groupLock('web', 'production'));
    expect((await a.call('POST', ROUTES, { client: '>=1.1', cluster: 'white' })).status).toBe(200);
    expect(await routed.redis.exists(redisKeys.groupLock('web', 'production'))).toBe(0);
  });
});
