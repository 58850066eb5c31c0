// A waiting host's wake-up read on a real redis-server, over a connection made as the agent
// makes its own (connectRedis: a 3 s command timeout): slices longer than that timeout are
// not cut by it, a waiting host sends a few BLPOPs a poll rather than one every 2 s, and a
// release still wakes the waiter at once.
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisClient } from '../../shared/redis/connection.js';
import { DEFAULT_POLL_MS, RedisSlotLocks, waitSliceMs } from '../../shared/redis/slot-locks.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';
import { until } from '../fixtures/poll.js';
import { pause } from '../../shared/contract/waiting.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';

const logger = pino({ level: 'silent' });
/** The agent's default slot lease (config slotLeaseMs). */
const LEASE_MS = 15_000;
/** The waiter's poll: far enough off that only a wake-up can explain a quick hand-over (its slice is the default one). */
const POLL_MS = 30_000;
const SLICE_MS = waitSliceMs(POLL_MS, LEASE_MS);
/** Long enough for two whole slices at the default lease; what the waiter sends in it is counted. */
const WINDOW_MS = 2 * SLICE_MS + 500;

let server: RedisInstance;
let admin: Redis;
const opened: RedisClient[] = [];

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  for (const client of opened) client.disconnect();
  admin?.disconnect();
  await server?.[Symbol.asyncDispose]();
});

async function agentConnection(): Promise<{ redis: RedisClient; address: string }> {
  const redis = await connectRedis(server.url, logger);
  opened.push(redis);
  const info = String(await redis.call('CLIENT', 'INFO'));
  const address = /(?:^|\s)addr=(\S+)/.exec(info)?.[1];
  if (!address) throw new Error(`CLIENT INFO gave no addr: ${info}`);
  return { redis, address };
}

describe("a waiting host's wake-up read on its one connection", () => {
  it('blocks in slices longer than the command timeout (no BLPOP cut and sent again), and a release still wakes it, not its poll', async () => {
    const group = { role: 'wake', env: 'test' };
    const holderConnection = await agentConnection();
    const holder = new RedisSlotLocks({ redis: holderConnection.redis, ttlMs: LEASE_MS, logger });
    const held = await holder.acquire({ group, deployId: 'd-wake01', slots: 1, holder: 'host-a', tag: 'v1', signal: AbortSignal.timeout(10_000) });
    if (held.kind !== 'acquired') throw new Error(`host-a did not get the slot: ${held.kind}`);

    const waiterConnection = await agentConnection();
    const waiter = new RedisSlotLocks({ redis: waiterConnection.redis, ttlMs: LEASE_MS, pollMs: POLL_MS, logger });
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const waiting = waiter.acquire({ group, deployId: 'd-wake01', slots: 1, holder: 'host-b', tag: 'v1', signal: AbortSignal.timeout(60_000), onWait: () => queued() });
    await isQueued;

    // What the waiter's connection sends, as Redis sees it.
    const sent: string[] = [];
    const monitor = await admin.monitor();
    monitor.on('monitor', (_time: unknown, args: unknown, source: unknown) => {
      if (source === waiterConnection.address && Array.isArray(args)) sent.push(String(args[0]).toLowerCase());
    });
    try {
      await pause(WINDOW_MS); // the measuring window itself, not a wait for a condition
    } finally {
      monitor.disconnect();
    }
    const blpops = sent.filter((name) => name === 'blpop').length;
    console.log(`waiting ${WINDOW_MS} ms at the default lease (slice ${SLICE_MS} ms, as at the default ${DEFAULT_POLL_MS / 1000} s poll: ${waitSliceMs(DEFAULT_POLL_MS, LEASE_MS)} ms): the waiter sent ${sent.join(' ') || 'nothing'}`);
    // A 2 s slice (or one cut by the 3 s command timeout and retried) would show four or more.
    expect(blpops).toBeGreaterThanOrEqual(1);
    expect(blpops).toBeLessThanOrEqual(3);
    expect(sent.filter((name) => name !== 'blpop' && name !== 'evalsha')).toEqual([]);

    const releasedAt = performance.now();
    await held.lease.release();
    const taken = await waiting;
    const handOverMs = Math.round(performance.now() - releasedAt);
    console.log(`slot hand-over after a long wait: ${handOverMs} ms`);
    expect(taken.kind).toBe('acquired');
    if (taken.kind === 'acquired') await taken.lease.release();
    // Woken by the release, not by its next poll (20 s away).
    expect(handOverMs).toBeLessThan(POLL_MS - WINDOW_MS - 5_000);
    await until('the waiter to leave the queue', async () => ((await admin.zcard(redisKeys.waiters(group.role, group.env))) === 0 ? true : undefined), { timeoutMs: 5_000 });
  }, 60_000);
});
