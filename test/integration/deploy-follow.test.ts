// `--wait` against a real coordinator over a real Redis, served on loopback: the follower sees
// every host report and the end through the event stream, survives the coordinator going away
// and coming back (the stream resumed with Last-Event-ID, nothing missed), and polls the
// summary where the coordinator serves no stream. The figures for the README: bytes and
// requests of one --wait, the old way (the whole record four times a second) and the new.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../dev-cluster/free-port.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { serveApp, type ServedApp } from '../../shared/http/serve-app.js';
import { RedisFleetEventStream } from '../../shared/redis/fleet-event-stream.js';
import { PolledDeployFeed, type DeployFeed } from '../../cli/watch/deploy-feed.js';
import { EventStreamClient } from '../../cli/watch/event-stream.js';
import { StreamedDeployFeed } from '../../cli/watch/streamed-deploy-feed.js';
import { coordinatorOverRedis, TOKEN, type CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { redisForThisFile } from '../fixtures/redis-server.js';
import { pause } from '../../shared/contract/waiting.js';
import { until } from '../fixtures/poll.js';

const silent = pino({ level: 'silent' });
const redis = redisForThisFile();

/** What went over the wire to followers: requests answered and bytes of their bodies. */
interface Meter {
  requests: number;
  bytes: number;
}

interface Served {
  coordinator: CoordinatorHarness;
  server: ServedApp;
  meter: Meter;
  stop(): Promise<void>;
}
const running: Served[] = [];

/** A coordinator over this file's Redis on `port`, with or without the event stream; its answers metered. */
async function startCoordinator(port: number, stream = true): Promise<Served> {
  const eventLog = stream ? { eventLog: { log: new RedisFleetEventStream({ redis: redis.client, logger: silent }) } } : {};
  const { coordinator } = coordinatorOverRedis(redis.client, silent, eventLog);
  coordinator.members.add('production', ['h4', 'h5', 'h6']);
  const meter: Meter = { requests: 0, bytes: 0 };
  const metered = async (request: Request): Promise<Response> => {
    const response = await coordinator.app.fetch(request);
    // Only the follower's reads: the harness's own reports go through app.request, not the server.
    meter.requests++;
    if (!response.body) return response;
    const counting = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        meter.bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(counting), response);
  };
  const server = await serveApp({ fetch: metered, host: '127.0.0.1', port });
  const served = {
    coordinator,
    server,
    meter,
    stop: async () => {
      await Promise.all([coordinator.eventFeed?.stop(), server.close(500)]);
      running.splice(running.indexOf(served), 1);
    },
  };
  running.push(served);
  return served;
}

afterEach(async () => {
  await Promise.all([...running].map((served) => served.stop()));
});

const connection = (served: Served) => ({ url: served.server.url, token: TOKEN });
const streamed = (served: Served, onMode?: (mode: string) => void) =>
  new StreamedDeployFeed(new CoordinatorClient(connection(served)), new EventStreamClient(connection(served)), onMode ? { onMode } : {});

/** A rolling deploy of the six hosts as agents report it, two at a time, over about `spanMs`. */
async function rollOut(coordinator: CoordinatorHarness, deploy: Deploy, spanMs: number): Promise<void> {
  const hosts = deploy.targets ?? [];
  const step = spanMs / (hosts.length * 2);
  const at = coordinator.clock;
  const steps = (names: HostReport['steps'][number]['step'][]) => names.map((name, i) => ({ step: name, at: at + i * 10 }));
  for (const host of hosts) await coordinator.report(deploy.id, host, 'waiting', { steps: steps(['received', 'waiting']), counted: hosts.length });
  for (const [i, host] of hosts.entries()) {
    await pause(step);
    await coordinator.report(deploy.id, host, 'deploying', { steps: steps(['received', 'waiting', 'slot', 'pull', 'up']), slot: (i % 2) + 1, counted: hosts.length });
    await pause(step);
    const ended = steps(['received', 'waiting', 'slot', 'pull', 'up', 'health', 'register', 'release']);
    await coordinator.report(deploy.id, host, 'succeeded', { steps: ended, slot: (i % 2) + 1, counted: hosts.length, remaining: hosts.length - i - 1 });
  }
}

/** Follows `deploy` with `feed` while it rolls out; what the follower ended with, and what it cost per second. */
async function measure(served: Served, feed: DeployFeed, deploy: Deploy, spanMs: number) {
  const before = { ...served.meter };
  const startedAt = performance.now();
  let ready: () => void = () => {};
  const looked = new Promise<void>((resolve) => (ready = resolve));
  const following = feed.follow(deploy.id, () => ready(), { timeoutMs: 60_000 });
  // The hosts start once the follower has looked, as they do a few tens of milliseconds after `deploy --wait` created the deploy.
  await looked;
  await rollOut(served.coordinator, deploy, spanMs);
  const final = await following;
  const seconds = (performance.now() - startedAt) / 1000;
  const requests = served.meter.requests - before.requests;
  const bytes = served.meter.bytes - before.bytes;
  return { final, seconds, requests, bytes, perSecond: `${(requests / seconds).toFixed(1)} requests/s, ${Math.round(bytes / seconds)} B/s (${requests} requests, ${bytes} B in ${seconds.toFixed(1)} s)` };
}

describe('--wait on a real coordinator', () => {
  it('sees every report and the end through the event stream, at a fraction of the polling cost (figures printed)', async () => {
    const served = await startCoordinator(await freePort());
    const { coordinator } = served;
    await coordinator.publish('web', 'f1');
    await coordinator.publish('web', 'f2');

    const old = await coordinator.deploy('web', 'production', 'f1');
    expect(old.targets).toHaveLength(6);
    const polled = await measure(served, new PolledDeployFeed(new CoordinatorClient(connection(served))), old, 3_000);

    const modes: string[] = [];
    const deploy = await coordinator.deploy('web', 'production', 'f2');
    const events = await measure(served, streamed(served, (mode) => modes.push(mode)), deploy, 3_000);
    expect(modes).toEqual(['stream']);
    expect(events.final.status).toBe('succeeded');
    // What the follower holds is what the coordinator stored, report for report.
    expect(events.final.hosts).toEqual((await coordinator.getDeploy(deploy.id)).hosts);
    expect(events.requests).toBeLessThanOrEqual(3);
    console.log(`[--wait, 6 hosts] whole record polled: ${polled.perSecond}; summary + events: ${events.perSecond}`);
  });

  it('survives the coordinator going away mid-deploy: the stream resumes after its last event and nothing is missed', async () => {
    const port = await freePort();
    const first = await startCoordinator(port);
    await first.coordinator.publish('web', 'g1');
    const deploy = await first.coordinator.deploy('web', 'production', 'g1');
    const modes: string[] = [];
    let heard = 0;
    const following = streamed(first, (mode) => modes.push(mode)).follow(deploy.id, (seen) => void (heard = Object.keys(seen.hosts).length), { timeoutMs: 60_000 });
    await until('the follower to look', () => (modes.length > 0 ? true : undefined), { timeoutMs: 5_000 });
    await first.coordinator.report(deploy.id, 'h1', 'succeeded', { counted: 6, remaining: 5 });
    await until('the follower to hear of h1', () => (heard === 1 ? true : undefined), { timeoutMs: 5_000 });
    await first.stop();

    // A new coordinator on the same address: the reports it takes before the follower is back are on the stream.
    const second = await startCoordinator(port);
    for (const [i, host] of ['h2', 'h3', 'h4', 'h5', 'h6'].entries()) await second.coordinator.report(deploy.id, host, 'succeeded', { counted: 6, remaining: 4 - i });
    const final = await following;
    expect(final.status).toBe('succeeded');
    expect(Object.values(final.hosts).map((r) => [r.host, r.state]).sort()).toEqual(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((host) => [host, 'succeeded']));
    expect(modes).toEqual(['stream', 'reconnect']);
  });

  it('polls the summary where the coordinator serves no event stream, and still sees every host end', async () => {
    const served = await startCoordinator(await freePort(), false);
    await served.coordinator.publish('web', 'p1');
    const deploy = await served.coordinator.deploy('web', 'production', 'p1');
    const modes: string[] = [];
    const result = await measure(served, streamed(served, (mode) => modes.push(mode)), deploy, 2_000);
    expect(modes).toEqual(['poll']);
    expect(result.final.status).toBe('succeeded');
    expect(Object.keys(result.final.hosts).sort()).toEqual(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
    console.log(`[--wait, 6 hosts, no event stream] summary polled: ${result.perSecond}`);
  });

  it('costs one read of the reports to join a deploy of 10 000 reports, then only events (figures printed)', async () => {
    const served = await startCoordinator(await freePort());
    const { coordinator } = served;
    await coordinator.publish('web', 'big');
    const deploy = await coordinator.deploy('web', 'production', 'big');
    for (let n = 0; n < 10_000; n += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => coordinator.store.applyReport(deploy.id, { host: `sim-${n + i}`, state: 'waiting', steps: [{ step: 'received', at: coordinator.clock }] }, coordinator.clock)));
    }
    const windowMs = 3_000;
    /** What joining costs (up to the follower's first look), then per second while no report comes. */
    const cost = async (feed: DeployFeed) => {
      const before = { ...served.meter };
      const stop = new AbortController();
      const startedAt = performance.now();
      let joined: { requests: number; bytes: number; at: number } | undefined;
      const onRecord = () => void (joined ??= { requests: served.meter.requests - before.requests, bytes: served.meter.bytes - before.bytes, at: performance.now() });
      const following = feed.follow(deploy.id, onRecord, { timeoutMs: 60_000, signal: stop.signal }).catch((error: unknown) => error);
      await until('the follower to look', () => joined, { timeoutMs: 30_000 });
      await pause(windowMs);
      stop.abort();
      await following;
      const seconds = (performance.now() - joined!.at) / 1000;
      const steady = { requests: served.meter.requests - before.requests - joined!.requests, bytes: served.meter.bytes - before.bytes - joined!.bytes };
      return { joined: joined!, joinMs: joined!.at - startedAt, steady, seconds };
    };
    const polled = await cost(new PolledDeployFeed(new CoordinatorClient(connection(served))));
    const events = await cost(streamed(served));
    const line = (c: Awaited<ReturnType<typeof cost>>) =>
      `joining ${c.joined.requests} requests, ${(c.joined.bytes / 1e6).toFixed(2)} MB in ${Math.round(c.joinMs)} ms; then ${(c.steady.requests / c.seconds).toFixed(1)} requests/s, ${Math.round(c.steady.bytes / c.seconds)} B/s`;
    console.log(`[--wait on a deploy of 10 000 reports, no new report for ${windowMs / 1000} s] whole record (first 1 000 reports) polled: ${line(polled)}; summary + report pages once + events: ${line(events)}`);
    expect(events.steady.requests).toBe(0);
    await redis.client.del(redisKeys.events());
  }, 120_000);
});
