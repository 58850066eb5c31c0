// The coordinator's view of HAProxy through the relay, against a real HAProxy and a real
// relay: a backend's weights set in one call and read back, registrations at full weight or
// at the weight asked for, and each server's requests, 5xx answers and response times as
// HAProxy's own access log reports them. Prints what a 12-server switch of weights takes.
import dgram from 'node:dgram';
import http from 'node:http';
import type net from 'node:net';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type RunningRelay } from '../../lb-relay/server.js';
import { ForbiddenError } from '../../shared/contract/errors.js';
import { RelayConfig } from '../../shared/contract/relay-config.js';
import { HAProxyRelayClient } from '../../shared/haproxy/relay-client.js';
import { HAProxyRuntimeApi } from '../../shared/haproxy/runtime-api.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';
import type { ServerTraffic } from '../../shared/ports/traffic.js';
import { startHAProxy, type HAProxyInstance } from '../fixtures/haproxy.js';
import { until } from '../fixtures/poll.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
/** The frontend sends everything to the first backend: the traffic cases use it, the weights cases the other. */
const TRAFFIC = 'traffic';
const WEIGHTS = 'weights';
const SLOW_MS = 150;

let haproxy: HAProxyInstance;
let redisDb: RedisInstance;
let redis: Redis;
let relay: RunningRelay;
let direct: HAProxyRuntimeApi;
let operator: HAProxyRelayClient;
let host: HAProxyRelayClient;
const apps: http.Server[] = [];

/** An app on loopback: `answer` decides each request's status and how long it waits first. */
async function startApp(answer: (n: number) => { status: number; delayMs: number }): Promise<string> {
  let n = 0;
  const server = http.createServer((_request, response) => {
    const { status, delayMs } = answer(n++);
    setTimeout(() => {
      response.statusCode = status;
      response.end(String(status));
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apps.push(server);
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** A UDP port nobody holds now, for HAProxy's config before the relay binds it. */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: 10_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url}`)));
    request.on('error', reject);
  });
}

const totals = (traffic: ServerTraffic[], server: string) =>
  (traffic.find((s) => s.server === server)?.buckets ?? []).reduce(
    (sum, b) => ({ requests: sum.requests + b.requests, errors: sum.errors + b.errors, latencySumMs: sum.latencySumMs + b.latencySumMs, timed: sum.timed + b.timed }),
    { requests: 0, errors: 0, latencySumMs: 0, timed: 0 },
  );

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

beforeAll(async () => {
  const accessLog = `127.0.0.1:${await freeUdpPort()}`;
  haproxy = await startHAProxy({ backends: [TRAFFIC, WEIGHTS], accessLog });
  redisDb = await startRedis();
  redis = new Redis(redisDb.url);
  const store = new RedisCredentialStore({ redis, logger: silent });
  const operatorToken = (await store.create({ scope: 'operator', name: 'coordinator', createdBy: 'test' })).token;
  const hostToken = (await store.create({ scope: 'host', host: 'h1', name: 'h1', createdBy: 'test' })).token;
  const config = RelayConfig.parse({
    listen: { host: '127.0.0.1', port: 0 },
    runtimeApi: `unix:${haproxy.runtimeSocket}`,
    redis: redisDb.url,
    backends: [TRAFFIC, WEIGHTS],
    accessLog: { listen: accessLog, retainMs: 60_000 },
  });
  relay = await startRelay(config, silent);
  direct = new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 1_000, logger: silent });
  operator = new HAProxyRelayClient({ url: relay.url, token: operatorToken, logger: silent });
  host = new HAProxyRelayClient({ url: relay.url, token: hostToken, logger: silent });
});

afterAll(async () => {
  await relay?.stop();
  for (const app of apps) app.close();
  redis?.disconnect();
  await redisDb?.[Symbol.asyncDispose]();
  await haproxy?.[Symbol.asyncDispose]();
});

describe('weights through the relay, against a real HAProxy', () => {
  const names = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];

  it('sets the weights of six servers in one call, and HAProxy serves each at the weight read back', async () => {
    for (const name of names) await direct.register(WEIGHTS, name, await startApp(() => ({ status: 200, delayMs: 0 })));
    const registered = await operator.weights(WEIGHTS);
    expect(registered.map((s) => [s.name, s.weight, s.state])).toEqual(names.map((name) => [name, 100, 'ready']));

    const wanted = { h1: 5, h2: 0, h3: 256, h4: 100, h5: 1, h6: 37 };
    await operator.setWeights(WEIGHTS, wanted);

    expect(Object.fromEntries((await operator.weights(WEIGHTS)).map((s) => [s.name, s.weight]))).toEqual(wanted);
    expect(Object.fromEntries((await direct.weights(WEIGHTS)).map((s) => [s.name, s.weight]))).toEqual(wanted);
  });

  it('registers at full weight again after a canary step, at the weight asked for otherwise, and a colour through a host credential', async () => {
    const address = await startApp(() => ({ status: 200, delayMs: 0 }));
    await operator.setWeights(WEIGHTS, { h1: 5 });
    await operator.register(WEIGHTS, 'h1', (await direct.servers(WEIGHTS)).find((s) => s.name === 'h1')!.address);
    expect((await direct.weights(WEIGHTS)).find((s) => s.name === 'h1')?.weight).toBe(100);

    await host.register(WEIGHTS, 'h1.green', address, undefined, { weight: 0 });
    expect((await direct.weights(WEIGHTS)).find((s) => s.name === 'h1.green')).toEqual({ name: 'h1.green', address, state: 'ready', weight: 0 });
    await host.register(WEIGHTS, 'h1.green', address);
    expect((await direct.weights(WEIGHTS)).find((s) => s.name === 'h1.green')?.weight).toBe(100);
    await expect(host.register(WEIGHTS, 'h2.green', address)).rejects.toThrow(ForbiddenError);
    await expect(host.setWeights(WEIGHTS, { h1: 0 })).rejects.toThrow(/needs an operator credential/);
  });

  it('names the server HAProxy refuses, and checks names and weights before sending anything', async () => {
    await expect(operator.setWeights(WEIGHTS, { h2: 50, nope: 10 })).rejects.toThrow(/nope: No such server/);
    await expect(direct.setWeights(WEIGHTS, { h2: 60, h3: 300 })).rejects.toThrow(/weight of server "h3" must be a whole number from 0 to 256, not 300/);
    await expect(direct.setWeights(WEIGHTS, { 'h2 weight 1;shutdown': 1 })).rejects.toThrow(/server name/);
    expect((await direct.weights(WEIGHTS)).find((s) => s.name === 'h2')?.weight).toBe(50);
  });

  it('prints what a switch of twelve servers takes, directly and through the relay (median of 20)', async () => {
    for (let i = 7; i <= 12; i++) await direct.register(WEIGHTS, `h${i}`, await startApp(() => ({ status: 200, delayMs: 0 })));
    const twelve = Array.from({ length: 12 }, (_, i) => `h${i + 1}`);
    const timed = async (set: (weights: Record<string, number>) => Promise<void>) => {
      const took: number[] = [];
      for (let round = 0; round < 20; round++) {
        const weights = Object.fromEntries(twelve.map((name, i) => [name, (i + round) % 2 === 0 ? 100 : 0]));
        const started = performance.now();
        await set(weights);
        took.push(performance.now() - started);
      }
      return median(took);
    };
    const viaSocket = await timed((weights) => direct.setWeights(WEIGHTS, weights));
    const viaRelay = await timed((weights) => operator.setWeights(WEIGHTS, weights));
    console.log(`setWeights of 12 servers, median of 20: ${viaSocket.toFixed(2)} ms on the runtime socket, ${viaRelay.toFixed(2)} ms through the relay`);
    const last = Object.fromEntries(twelve.map((name, i) => [name, (i + 19) % 2 === 0 ? 100 : 0]));
    expect(Object.fromEntries((await direct.weights(WEIGHTS)).map((s) => [s.name, s.weight]))).toMatchObject(last);
  });
});

describe("per-server traffic from HAProxy's access log", () => {
  it('counts each server\'s requests, 5xx answers and response times within a second or two', async () => {
    // flaky answers 500 to every fourth request; slow answers after SLOW_MS.
    await direct.register(TRAFFIC, 'flaky', await startApp((n) => ({ status: n % 4 === 3 ? 500 : 200, delayMs: 0 })));
    await direct.register(TRAFFIC, 'slow', await startApp(() => ({ status: 200, delayMs: SLOW_MS })));
    const from = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push(await get(haproxy.url));
    const sentAt = Date.now();
    expect(statuses.filter((s) => s === 500)).toHaveLength(5);

    const traffic = await until('the relay to count all 40 requests', async () => {
      const read = await operator.traffic(TRAFFIC, from - 1_000, Date.now() + 1_000);
      return totals(read, 'flaky').requests + totals(read, 'slow').requests === 40 ? read : undefined;
    }, { intervalMs: 50, timeoutMs: 5_000 });
    console.log(`traffic of 40 requests readable ${Date.now() - sentAt} ms after the last answer`);

    const flaky = totals(traffic, 'flaky');
    const slow = totals(traffic, 'slow');
    expect({ requests: flaky.requests, errors: flaky.errors, timed: flaky.timed }).toEqual({ requests: 20, errors: 5, timed: 20 });
    expect({ requests: slow.requests, errors: slow.errors, timed: slow.timed }).toEqual({ requests: 20, errors: 0, timed: 20 });
    expect(slow.latencySumMs / slow.timed).toBeGreaterThanOrEqual(SLOW_MS);
    expect(flaky.latencySumMs / flaky.timed).toBeLessThan(SLOW_MS / 3);
    for (const server of traffic) {
      for (const bucket of server.buckets) {
        expect(bucket.at % 1_000).toBe(0);
        expect(bucket.at).toBeGreaterThanOrEqual(Math.floor(from / 1_000) * 1_000);
      }
    }
  });

  it('gives no buckets outside the window asked for, and refuses a span beyond its retention', async () => {
    const now = Date.now();
    expect(await operator.traffic(TRAFFIC, now - 60_000, now - 59_000)).toEqual([]);
    await expect(operator.traffic(TRAFFIC, now - 120_000, now)).rejects.toThrow(/at most 60000 ms/);
    await expect(host.traffic(TRAFFIC, now - 1_000, now)).rejects.toThrow(/needs an operator credential/);
  });
});
