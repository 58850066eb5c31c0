// A quarantine waiting out its grace survives the coordinator that started it, over a real
// redis-server: the pending quarantine is in Redis, and the leader takes it up a little after it
// was due (not before, and once), rolling the group's hosts back from the broken tag.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DeployStarter } from '../../coordinator/deploy-starter.js';
import { FleetEventBus } from '../../coordinator/fleet-event-bus.js';
import { CoordinatorGroupLocks } from '../../coordinator/leadership/group-lock.js';
import { Quarantine } from '../../coordinator/strategies/quarantine.js';
import { pollUntil } from '../../shared/contract/waiting.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisGroupLockStore } from '../../shared/redis/group-lock-store.js';
import { RedisPendingQuarantines } from '../../shared/redis/pending-quarantines.js';
import { ListedMembers, RecordingEvents } from '../fixtures/coordinator-fakes.js';
import { coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { redisClientsForThisFile } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const client = redisClientsForThisFile();
const GRACE_MS = 60_000;

describe('a quarantine whose coordinator died in the grace', () => {
  it('is taken up by the leader once it is due and a little more, once, rolling the hosts back from the broken tag', async () => {
    const redis = client();
    await redis.flushdb();
    // web v1 then v2 on h1-h3, then v2 marked broken.
    const { coordinator } = coordinatorOverRedis(client(), silent);
    await coordinator.publish('web', 'v1');
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
    await coordinator.publish('web', 'v2');
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v2'));
    const store = new RedisDeployStore({ redis: client(), logger: silent });
    await store.markReleaseBroken('web', 'v2', { reason: 'found bad after its deploy', by: 'ops', at: Date.now() });
    const pending = new RedisPendingQuarantines(client());
    let clock = Date.now();
    const now = () => clock;

    // The first coordinator hears of the mark and waits out its grace; it dies before the end (its timer never acts).
    const dying = new Quarantine({ store, graceMs: GRACE_MS, now, pending, logger: silent, starter: { start: async () => Promise.reject(new Error('this coordinator is gone')) } });
    void dying.read({ kind: 'release.broken', at: clock, actor: 'ops', role: 'web', tag: 'v2', reason: 'found bad after its deploy' });
    const [entry] = await pollUntil('the pending quarantine in Redis', async () => ((await pending.all()).length === 1 ? pending.all() : undefined), { timeoutMs: 5_000, intervalMs: 20 });
    expect(entry).toMatchObject({ role: 'web', env: 'production', tag: 'v2', dueAt: entry!.since + GRACE_MS });

    const members = new ListedMembers();
    members.add('production', ['h1', 'h2', 'h3']);
    const starter = new DeployStarter({
      store,
      membership: members,
      events: new RecordingEvents(),
      slots: '1/3',
      logger: silent,
      now,
      newId: () => `d-takeover${String(clock).slice(-6)}`,
      fleetEvents: new FleetEventBus(silent),
      locks: new CoordinatorGroupLocks({ store: new RedisGroupLockStore(client()), name: 'coordinator-2', logger: silent }),
    });
    const leader = new Quarantine({ store, graceMs: GRACE_MS, now, pending, logger: silent, starter });
    const deploysNow = async () => store.listDeploys({ role: 'web', env: 'production', limit: 20 });
    const before = (await deploysNow()).length;

    // Due, but the first coordinator's own timer may still fire: the leader leaves it.
    clock = entry!.dueAt + 1_000;
    await leader.resumeDue();
    expect(await deploysNow()).toHaveLength(before);
    expect(await pending.all()).toHaveLength(1);

    // Well past due: the first coordinator is taken for dead; the leader rolls the hosts back to v1.
    clock = entry!.dueAt + 10_000;
    await leader.resumeDue();
    const after = await deploysNow();
    expect(after).toHaveLength(before + 1);
    expect(after[0]).toMatchObject({ tag: 'v1', rollbackOf: 'v2', startedBy: 'coordinator', status: 'in_progress' });
    expect([...(after[0]!.targets ?? [])].sort()).toEqual(['h1', 'h2', 'h3']);
    expect(await pending.all()).toEqual([]);

    // Once: asked again, nothing more.
    await leader.resumeDue();
    expect(await deploysNow()).toHaveLength(before + 1);
  });
});
