// The watchdog over the real Redis store with a large deploy: a tick where nothing changed
// costs the same few commands whatever the number of hosts' reports (it reads the deploy's
// record, not its reports), a target Serf calls gone costs a read of its own report, and a
// deploy past its deadline is read whole once, to name its unfinished hosts. Serf's side is a
// stand-in; the commands are what Redis's MONITOR shows from the coordinator's connection.
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployWatchdog, TickSummary } from '../../coordinator/watchdog.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { CoordinatorHarness, coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';

const logger = pino({ level: 'silent' });
const DEADLINE_MS = 10 * 60_000;
const LARGE = 2_000;
const SMALL = 10;

let server: RedisInstance;
let admin: Redis;
let redis: Redis;
let address: string;
let coordinator: CoordinatorHarness;
let watchdog: DeployWatchdog;

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  const info = String(await redis.call('CLIENT', 'INFO'));
  address = /(?:^|\s)addr=(\S+)/.exec(info)?.[1] ?? '';
  ({ coordinator } = coordinatorOverRedis(redis, logger));
  watchdog = coordinator.watchdog(DEADLINE_MS);
  await coordinator.publish('web', 'v1');
});

afterAll(async () => {
  await watchdog?.stop();
  redis?.disconnect();
  admin?.disconnect();
  await server?.[Symbol.asyncDispose]();
});

/** One tick, and the commands the coordinator's connection sent during it (scripts' own commands left out). */
async function measuredTick(): Promise<{ summary: TickSummary; commands: string[] }> {
  const commands: string[] = [];
  const monitor = await admin.monitor();
  monitor.on('monitor', (_time: unknown, args: unknown, source: unknown) => {
    if (source === address && Array.isArray(args)) commands.push(String(args[0]).toLowerCase());
  });
  // MONITOR shows commands in the order Redis ran them: the marker sent last bounds the tick.
  const marker = `watchdog-tick-${Math.random()}`;
  const seenMarker = new Promise<void>((resolve) => monitor.on('monitor', (_t: unknown, args: unknown) => Array.isArray(args) && args[1] === marker && resolve()));
  try {
    const summary = await watchdog.tick();
    await redis.echo(marker);
    await seenMarker;
    return { summary, commands: commands.filter((name) => name !== 'echo') };
  } finally {
    monitor.disconnect();
  }
}

/** A deploy to `hosts` alive production hosts, every one of them reporting `deploying`. */
async function deployTo(prefix: string, hosts: number): Promise<Deploy> {
  const names = Array.from({ length: hosts }, (_, i) => `${prefix}${i + 1}`);
  coordinator.members.list.clear();
  coordinator.members.add('production', names);
  const created = await coordinator.deploy('web', 'production', 'v1');
  expect(created.targets).toHaveLength(hosts);
  for (const host of names) {
    await coordinator.store.applyReport(created.id, coordinator.hostReport(host, 'deploying', { counted: hosts }), coordinator.clock);
  }
  return created;
}

describe('the watchdog judges from the deploy record, not from every report', () => {
  it('a tick where nothing changed costs the same few commands at 10 and at 2 000 reporting hosts; a lost host costs a read of its own report', async () => {
    const small = await deployTo('a', SMALL);
    await measuredTick(); // the record is parsed once per change, as on any first look
    const atSmall = await measuredTick();
    expect(atSmall.summary).toEqual({ checked: 1, lost: [], timedOut: [] });
    await coordinator.store.finishDeploy(small.id, 'succeeded', undefined, coordinator.clock);

    const large = await deployTo('b', LARGE);
    await measuredTick(); // drops the ended deploy from the index and parses the new record
    const atLarge = await measuredTick();
    console.log(`one watchdog tick, nothing changed: ${atSmall.commands.length} commands at ${SMALL} hosts (${atSmall.commands.join(' ')}), ${atLarge.commands.length} at ${LARGE} (${atLarge.commands.join(' ')})`);
    expect(atLarge.summary).toEqual({ checked: 1, lost: [], timedOut: [] });
    expect(atLarge.commands.length).toBe(atSmall.commands.length);
    expect(atLarge.commands.length).toBeLessThanOrEqual(3);
    expect(atLarge.commands).not.toContain('hscan');

    // One target gone: its report is read and it is counted out; on the next tick it costs nothing more.
    coordinator.members.setStatus('b1500', 'failed');
    const lostTick = await measuredTick();
    expect(lostTick.summary.lost).toEqual([`${large.id}/b1500`]);
    expect((await coordinator.store.getHostView(large.id, 'b1500'))?.mine).toMatchObject({ state: 'lost', error: 'Serf reports the host failed' });
    const after = await measuredTick();
    console.log(`the tick that counted one of ${LARGE} hosts lost: ${lostTick.commands.length} commands; the next: ${after.commands.length}`);
    expect(after.summary.lost).toEqual([]);
    expect(after.commands.length).toBe(atLarge.commands.length);

    // Past the deadline the deploy is read whole, once, and ends naming the hosts that did not finish.
    for (const host of Array.from({ length: LARGE }, (_, i) => `b${i + 1}`).filter((h) => !['b1500', 'b7', 'b1999'].includes(h))) {
      await coordinator.store.applyReport(large.id, coordinator.hostReport(host, 'succeeded', { counted: LARGE }), coordinator.clock);
    }
    coordinator.clock += DEADLINE_MS;
    const ended = await measuredTick();
    expect(ended.summary.timedOut).toEqual([large.id]);
    expect(await coordinator.getDeploy(large.id)).toMatchObject({ status: 'failed', reason: 'did not finish within 600 s; hosts not finished: b1999, b7' });
  }, 120_000);
});
