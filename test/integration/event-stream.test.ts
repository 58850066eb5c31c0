// The live event stream on a real Redis, served over HTTP as the coordinator serves it: the
// events of a rollout arrive in order with the stream's own ids, filters pick one deploy or
// one group, a reader that reconnects after a coordinator restart gets every event after its
// Last-Event-ID and none twice, the stream stays capped, and one XREAD BLOCK connection
// serves every open stream.
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { serveApp, type ServedApp } from '../../shared/http/serve-app.js';
import { RedisFleetEventStream } from '../../shared/redis/fleet-event-stream.js';
import { coordinatorOverRedis, TOKEN, type CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { until } from '../fixtures/poll.js';
import { redisForThisFile } from '../fixtures/redis-server.js';
import { SseReader, type SseMessage } from '../fixtures/sse-reader.js';

const silent = pino({ level: 'silent' });
const redis = redisForThisFile();

/** A coordinator (its app and its event feed) over this file's Redis, served on a loopback port. */
interface Served {
  coordinator: CoordinatorHarness;
  server: ServedApp;
  stop(): Promise<void>;
}
const running: Served[] = [];
const readers: SseReader[] = [];

async function startCoordinator(maxLength?: number): Promise<Served> {
  const log = new RedisFleetEventStream({ redis: redis.client, logger: silent, ...(maxLength === undefined ? {} : { maxLength }) });
  const { coordinator } = coordinatorOverRedis(redis.client, silent, { eventLog: { log } });
  const server = await serveApp({ fetch: coordinator.app.fetch, host: '127.0.0.1', port: 0 });
  const served = {
    coordinator,
    server,
    // As coordinator/server.ts stops: the feed first, so that open streams do not hold the close.
    stop: async () => {
      await Promise.all([coordinator.eventFeed?.stop(), server.close(1_000)]);
    },
  };
  running.push(served);
  return served;
}

async function open(served: Served, query = '', headers: Record<string, string> = {}): Promise<SseReader> {
  const response = await fetch(`${served.server.url}/v1/events${query}`, { headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
  expect(response.status, await (response.ok ? '' : response.clone().text())).toBe(200);
  const reader = new SseReader(response);
  readers.push(reader);
  return reader;
}

const parsed = (messages: SseMessage[]) => messages.map((message) => JSON.parse(message.data) as FleetEvent);
/** Ids of the entries in gv:events, oldest first. */
const streamIds = async (client: Redis) => (await client.xrange(redisKeys.events(), '-', '+')).map(([id]) => id);
/** Clients of this file's database blocked in XREAD now. */
async function xreadClients(client: Redis): Promise<number> {
  const db = redis.server.db;
  const list = (await client.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` db=${db} `) && line.includes(' cmd=xread')).length;
}

beforeAll(async () => {
  await redis.client.del(redisKeys.events());
});
afterEach(async () => {
  await Promise.all(readers.splice(0).map((reader) => reader.close()));
  await Promise.all(running.splice(0).map((served) => served.stop()));
});
afterAll(async () => {
  await redis.client.del(redisKeys.events());
});

describe('the event stream on Redis', () => {
  it('sends a rollout\'s events in the order they happened, each under its gv:events id, to every open stream through one XREAD', async () => {
    const served = await startCoordinator();
    const { coordinator } = served;
    const readers = [await open(served), await open(served), await open(served)];
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.succeedEverywhere(deploy);
    await coordinator.fleetEvents.settled();

    const expected = ['release.published', 'deploy.started', 'host.reported', 'host.reported', 'host.reported', 'deploy.finished'];
    const ids = (await streamIds(redis.client)).slice(-expected.length);
    for (const reader of readers) {
      const messages = await reader.take(expected.length);
      expect(messages.map((m) => m.event)).toEqual(expected);
      expect(messages.map((m) => m.id)).toEqual(ids);
      expect(parsed(messages)).toEqual(coordinator.published.slice(-expected.length));
    }
    expect(await xreadClients(redis.client)).toBe(1);
  });

  it('hands each event to an open stream as it is published (the latency is printed)', async () => {
    const served = await startCoordinator();
    const reader = await open(served);
    const latencies: number[] = [];
    for (let n = 0; n < 50; n++) {
      const startedAt = performance.now();
      await served.coordinator.publish('web', `lat-${n}`);
      const [message] = await reader.take(1);
      latencies.push(performance.now() - startedAt);
      expect(JSON.parse(message!.data)).toMatchObject({ kind: 'release.published', release: { tag: `lat-${n}` } });
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
    console.log(`[event stream] publish request to the event on an open stream (HTTP, bus, XADD, XREAD BLOCK, SSE), 50 events: median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`);
  });

  it('?deploy=ID follows one deploy to its end and to the promotion it starts; ?role&env one group', async () => {
    const served = await startCoordinator();
    const { coordinator } = served;
    await coordinator.publish('web', 'v2');
    const other = await coordinator.deploy('web', 'production', 'v2');
    const staging = await coordinator.deploy('web', 'staging', 'v2');
    // The two starts are in the stream before the readers open (appends wait a few ms to go together).
    await coordinator.fleetEvents.settled();
    const followed = await open(served, `?deploy=${staging.id}`);
    const group = await open(served, '?role=web&env=production');

    await coordinator.report(other.id, 'h1', 'deploying');
    await coordinator.succeedEverywhere(staging);
    await coordinator.fleetEvents.settled();

    const messages = await followed.take(5);
    expect(messages.map((m) => m.event)).toEqual(['host.reported', 'host.reported', 'host.reported', 'deploy.finished', 'deploy.started']);
    const promotion = parsed(messages)[4];
    expect(promotion).toMatchObject({ kind: 'deploy.started', actor: 'coordinator', deploy: { env: 'production', promotedFrom: staging.id } });

    const production = parsed(await group.take(2));
    expect(production.map((event) => [event.kind, 'deploy' in event ? event.deploy.id : undefined])).toEqual([
      ['host.reported', other.id],
      ['deploy.started', (promotion as { deploy: { id: string } }).deploy.id],
    ]);
  });

  it('after a coordinator restart, a reader sending its Last-Event-ID gets every event after it, none twice', async () => {
    const before = await startCoordinator();
    const reader = await open(before);
    await before.coordinator.publish('web', 'r1');
    await before.coordinator.publish('web', 'r2');
    await before.coordinator.fleetEvents.settled();
    const [, last] = await reader.take(2);
    await before.stop();
    expect(await reader.ends(2_000)).toBe(true);

    // While no coordinator runs, nothing is published; the next one publishes from its first request.
    const after = await startCoordinator();
    await after.coordinator.publish('web', 'r3');
    await after.coordinator.publish('web', 'r4');
    await after.coordinator.fleetEvents.settled();
    const resumed = await open(after, '', { 'last-event-id': last!.id! });
    await after.coordinator.publish('web', 'r5');
    await after.coordinator.fleetEvents.settled();

    const tags = parsed(await resumed.take(3)).map((event) => (event.kind === 'release.published' ? event.release.tag : event.kind));
    expect(tags).toEqual(['r3', 'r4', 'r5']);
    await expect(resumed.next(300)).rejects.toThrow('no event within 300 ms');
  });

  it('stays capped: each append trims the stream to about its length, and a reader past the cap is told that events may be missing', async () => {
    const served = await startCoordinator(100);
    const log = new RedisFleetEventStream({ redis: redis.client, logger: silent, maxLength: 100 });
    await redis.client.del(redisKeys.events());
    const first = await log.append({ kind: 'serf.key-rotated', at: 0, actor: 'test' });
    for (let n = 1; n < 1_000; n++) await log.append({ kind: 'token.revoked', at: n, actor: 'test', token: { id: `t-${n}` } });

    const length = await redis.client.xlen(redisKeys.events());
    // MAXLEN ~ trims whole macro nodes (100 entries each by Redis's default): at least the cap, under twice it.
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(200);

    const late = await open(served, '', { 'last-event-id': first });
    const [notice, oldest] = await late.take(2);
    expect(notice).toMatchObject({ event: 'trimmed' });
    expect(JSON.parse(notice!.data)).toEqual({ since: first, message: `the stream no longer holds event ${first}: some events after it may be missing` });
    expect(oldest!.id).toBe((await streamIds(redis.client))[0]);
  });

  it('stops its one XREAD connection and ends every open stream when the coordinator stops', async () => {
    const served = await startCoordinator();
    const reader = await open(served);
    await until('the feed to wait in XREAD', async () => ((await xreadClients(redis.client)) === 1 ? true : undefined), { timeoutMs: 5_000 });
    await served.stop();
    expect(await reader.ends(2_000)).toBe(true);
    await until('the XREAD connection to close', async () => ((await xreadClients(redis.client)) === 0 ? true : undefined), { timeoutMs: 5_000 });
  });
});
