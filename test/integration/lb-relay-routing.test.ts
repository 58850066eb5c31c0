// Red-white routing in a real HAProxy, applied by a real relay: requests carrying a client
// version reach the cluster the route table names, a table change takes effect for new
// requests at once (measured, and held to the 1 s) with no request failing, a bad
// table changes nothing, and a restarted HAProxy serves the same routes from the files.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type RunningRelay } from '../../lb-relay/server.js';
import { UnreachableError, ValidationError } from '../../shared/contract/errors.js';
import { RelayConfig } from '../../shared/contract/relay-config.js';
import { MAX_ROUTES, type RouteTable } from '../../shared/contract/routing.js';
import { HAProxyRelayClient } from '../../shared/haproxy/relay-client.js';
import { flattenRoutes, routeOf } from '../../shared/haproxy/route-acl.js';
import { RoutingRuntime } from '../../shared/haproxy/route-runtime.js';
import { routingFiles } from '../../shared/haproxy/routed-frontend.js';
import { HAProxyRuntimeApi } from '../../shared/haproxy/runtime-api.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';
import { startHAProxy, type HAProxyInstance } from '../fixtures/haproxy.js';
import { until } from '../fixtures/poll.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const FRONTEND = 'web';
const CLUSTERS = { red: 'web.red', white: 'web.white' };
const NEW_CLIENTS_TO_WHITE: RouteTable = { routes: [{ client: '>=1.1', cluster: 'white' }], defaultCluster: 'red' };
/** Requests of the stream sent after the change's answer, at least, so the new table is seen serving. */
const AFTER_SWAP = 300;
const MAX_STREAM = 5_000;
const STREAM_WORKERS = 4;

let haproxy: HAProxyInstance;
let redisDb: RedisInstance;
let redis: Redis;
let relay: RunningRelay;
let direct: HAProxyRuntimeApi;
let routing: RoutingRuntime;
let operator: HAProxyRelayClient;
let hostToken: string;
let operatorToken: string;
const apps: http.Server[] = [];
const addresses: Record<string, string> = {};

/** A cluster's server: answers its cluster's name. */
async function startApp(name: string): Promise<string> {
  const server = http.createServer((_request, response) => response.end(name));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apps.push(server);
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** One request on a connection of its own, as a new client sends it. */
function ask(headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(haproxy.routedUrls[FRONTEND]!, { headers, agent: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 5 s')));
    request.on('error', reject);
  });
}
const clusterFor = async (headers: Record<string, string>) => {
  const { status, body } = await ask(headers);
  return status === 200 ? body : `status ${status}`;
};
const v = (version: string, type?: string) => ({ 'X-Client-Version': version, ...(type === undefined ? {} : { 'X-Client-Type': type }) });

async function registerClusters(): Promise<void> {
  await direct.register(CLUSTERS.red, 'r1', addresses.red!);
  await direct.register(CLUSTERS.white, 'w1', addresses.white!);
}

/** What a change must leave untouched: the files on disk and what HAProxy holds. */
async function routingState(): Promise<unknown> {
  const names = [routingFiles.types(FRONTEND), routingFiles.table(FRONTEND), ...Object.keys(CLUSTERS).map((c) => routingFiles.cluster(FRONTEND, c))];
  const files = await Promise.all(names.map((name) => readFile(path.join(haproxy.dir, name), 'utf8')));
  const held = await Promise.all([routing.entries(routingFiles.types(FRONTEND), 'map'), ...Object.keys(CLUSTERS).map((c) => routing.entries(routingFiles.cluster(FRONTEND, c), 'acl'))]);
  return { files, held };
}

beforeAll(async () => {
  haproxy = await startHAProxy({ backends: Object.values(CLUSTERS), routed: [{ name: FRONTEND, clusters: Object.entries(CLUSTERS).map(([cluster, backend]) => ({ cluster, backend })) }] });
  redisDb = await startRedis();
  redis = new Redis(redisDb.url);
  const store = new RedisCredentialStore({ redis, logger: silent });
  operatorToken = (await store.create({ scope: 'operator', name: 'operator', createdBy: 'test' })).token;
  hostToken = (await store.create({ scope: 'host', host: 'h1', name: 'h1', createdBy: 'test' })).token;
  const config = RelayConfig.parse({
    listen: { host: '127.0.0.1', port: 0 },
    runtimeApi: `unix:${haproxy.runtimeSocket}`,
    redis: redisDb.url,
    backends: Object.values(CLUSTERS),
    routing: { dir: haproxy.dir, frontends: { [FRONTEND]: { clusters: CLUSTERS } } },
  });
  relay = await startRelay(config, silent);
  operator = new HAProxyRelayClient({ url: relay.url, token: operatorToken, logger: silent });
  direct = new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 1_000, logger: silent });
  routing = new RoutingRuntime({ address: `unix:${haproxy.runtimeSocket}`, logger: silent });
  addresses.red = await startApp('red');
  addresses.white = await startApp('white');
  await registerClusters();
});

afterAll(async () => {
  await relay?.stop();
  for (const app of apps) app.close();
  redis?.disconnect();
  await redisDb?.[Symbol.asyncDispose]();
  await haproxy?.[Symbol.asyncDispose]();
});

describe('routing client versions to clusters in HAProxy through the relay', () => {
  it('answers the frontend with its clusters and no table before the first, and sends everything to the first cluster then', async () => {
    expect(await operator.frontend(FRONTEND)).toEqual({ frontend: FRONTEND, clusters: [{ cluster: 'red', backend: 'web.red' }, { cluster: 'white', backend: 'web.white' }], routes: null });
    expect(await clusterFor(v('1.1'))).toBe('red');
    expect(await clusterFor({})).toBe('red');
  });

  it('sends 1.0 to red and 1.1 to white after ">=1.1 -> white, default red", and requests without a version or with a malformed one to the default', async () => {
    await operator.setRoutes(FRONTEND, NEW_CLIENTS_TO_WHITE);
    expect(await clusterFor(v('1.0'))).toBe('red');
    expect(await clusterFor(v('1.0.9999'))).toBe('red');
    expect(await clusterFor(v('1.1'))).toBe('white');
    expect(await clusterFor(v('2'))).toBe('white');
    expect(await clusterFor({})).toBe('red');
    for (const malformed of ['1.x', '12345', '1.2.3.4', 'latest', '']) expect(await clusterFor(v(malformed)), malformed).toBe('red');
    expect((await operator.frontend(FRONTEND)).routes).toEqual(NEW_CLIENTS_TO_WHITE);
    expect(await readFile(path.join(haproxy.dir, routingFiles.cluster(FRONTEND, 'white')), 'utf8')).toBe('100010000:999999999999\n');
    expect(await routing.entries(routingFiles.cluster(FRONTEND, 'red'), 'acl')).toEqual([':-1', '0:100009999']);
  });

  it('keeps a typed route to its client type, whatever the case of the header', async () => {
    await operator.setRoutes(FRONTEND, { routes: [{ client: '<2', clientType: 'ios', cluster: 'white' }, { client: '>=1.1', cluster: 'white' }], defaultCluster: 'red' });
    expect(await clusterFor(v('1.0', 'ios'))).toBe('white');
    expect(await clusterFor(v('1.0', 'IOS'))).toBe('white');
    expect(await clusterFor(v('1.0', 'android'))).toBe('red');
    expect(await clusterFor(v('1.0'))).toBe('red');
    expect(await clusterFor(v('1.1', 'android'))).toBe('white');
    expect(await routing.entries(routingFiles.types(FRONTEND), 'map')).toEqual(['ios 1']);
  });

  it('refuses a table naming a cluster the frontend lacks, or a malformed one, and changes neither the files nor HAProxy', async () => {
    const before = await routingState();
    const unknown = await operator.setRoutes(FRONTEND, { routes: [{ client: '>=3', cluster: 'green' }], defaultCluster: 'red' }).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(ValidationError);
    expect((unknown as Error).message).toMatch(/cluster "green" is not one of web's clusters \(red, white\)/);
    const host = new HAProxyRelayClient({ url: relay.url, token: hostToken, logger: silent });
    await expect(host.setRoutes(FRONTEND, NEW_CLIENTS_TO_WHITE)).rejects.toThrow(/needs an operator credential/);
    await expect(host.frontend(FRONTEND)).rejects.toThrow(/needs an operator credential/);
    await expect(operator.setRoutes(FRONTEND, { routes: [], defaultCluster: 'grey' })).rejects.toThrow(/cluster "grey"/);
    await expect(operator.setRoutes(FRONTEND, { routes: [{ client: '>=1.x', cluster: 'white' }], defaultCluster: 'red' })).rejects.toThrow(/routes\.0\.client/);
    await expect(operator.setRoutes('api', NEW_CLIENTS_TO_WHITE)).rejects.toThrow(/routes no frontend "api"/);
    expect(await routingState()).toEqual(before);
    expect(await clusterFor(v('1.0', 'ios'))).toBe('white');
  });

  it('answers the wire code unknown_cluster with a 400', async () => {
    const answer = await fetch(`${relay.url}/v1/frontends/${FRONTEND}/routes`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ routes: [], defaultCluster: 'green' }),
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { code: 'unknown_cluster', message: expect.stringMatching(/"green"/) } });
  });

  it('agrees with the table read route by route for large random tables, 32 routes over many client types', async () => {
    const part = fc.oneof(fc.constantFrom(0, 1, 2, 10, 9999), fc.integer({ min: 0, max: 9999 }));
    const version = fc.tuple(part, part, part).map(([a, b, c]) => `${a}.${b}.${c}`);
    const types = Array.from({ length: 16 }, (_, i) => `type-${i}`);
    // Narrow ranges, most of them typed, so that every type's keys are cut in many ranges (and the files are long).
    const range = fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 })).map(([a, b]) => `>=1.${Math.min(a, b)} <=1.${Math.max(a, b)}.5`);
    const route = fc.record({
      client: fc.oneof(range, fc.tuple(fc.constantFrom('>=', '<', '='), version).map(([op, v]) => `${op}${v}`)),
      clientType: fc.option(fc.constantFrom(...types), { nil: undefined }),
      cluster: fc.constantFrom('red', 'white'),
    });
    const tables = fc.sample(fc.record({ routes: fc.array(route, { minLength: MAX_ROUTES, maxLength: MAX_ROUTES }), defaultCluster: fc.constantFrom('red', 'white') }), { numRuns: 3, seed: 13 });
    const near = fc.tuple(fc.integer({ min: 0, max: 21 }), fc.constantFrom(0, 4, 5, 6)).map(([minor, patch]) => `1.${minor}.${patch}`);
    const requests = fc.sample(fc.tuple(fc.oneof(near, version, part.map(String)), fc.constantFrom(undefined, ...types, 'TYPE-3', 'other')), { numRuns: 80, seed: 31 });
    // The largest files 32 routes make: 16 narrow routes for every type, and one of each type's own.
    const largest: RouteTable = {
      routes: [
        ...Array.from({ length: 16 }, (_, i) => ({ client: `=1.${i * 2}`, cluster: i % 2 === 0 ? 'white' : 'red' })),
        ...types.map((type, i) => ({ client: `=1.${i * 2 + 1}`, clientType: type, cluster: i % 2 === 0 ? 'white' : 'red' })),
      ],
      defaultCluster: 'red',
    };
    for (const raw of [...tables, largest]) {
      const table: RouteTable = { ...raw, routes: raw.routes.map((r) => (r.clientType === undefined ? { client: r.client, cluster: r.cluster } : { ...r, clientType: r.clientType })) };
      const startedAt = performance.now();
      await operator.setRoutes(FRONTEND, table);
      const appliedMs = performance.now() - startedAt;
      const flat = flattenRoutes(table, Object.keys(CLUSTERS));
      const entries = Object.values(flat.clusters).flat().length + flat.types.length;
      console.info(`random table of ${table.routes.length} routes: ${entries} ACL and map entries, applied through the relay in ${appliedMs.toFixed(1)} ms`);
      expect(await routing.entries(routingFiles.cluster(FRONTEND, 'white'), 'acl')).toEqual(flat.clusters.white);
      for (const [version, type] of requests) expect(await clusterFor(v(version, type)), `${version} ${type ?? ''}`).toBe(routeOf(table, version, type));
    }
  });

  it('answers 502 and leaves the files as they were when HAProxy does not answer, so a later start serves what was served', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gvtest-routing-down-'));
    const config = RelayConfig.parse({
      listen: { host: '127.0.0.1', port: 0 },
      runtimeApi: `unix:${path.join(dir, 'no-haproxy.sock')}`,
      redis: redisDb.url,
      backends: Object.values(CLUSTERS),
      routing: { dir, frontends: { [FRONTEND]: { clusters: CLUSTERS } } },
    });
    const lonely = await startRelay(config, silent);
    try {
      const client = new HAProxyRelayClient({ url: lonely.url, token: operatorToken, logger: silent });
      await expect(client.setRoutes(FRONTEND, NEW_CLIENTS_TO_WHITE)).rejects.toThrow(UnreachableError);
      expect((await readdir(dir)).filter((f) => f !== 'no-haproxy.sock').sort()).toEqual(['web.red.acl', 'web.types.map', 'web.white.acl']);
      for (const file of ['web.red.acl', 'web.white.acl']) expect(await readFile(path.join(dir, file), 'utf8')).toBe('');
      expect((await client.frontend(FRONTEND)).routes).toBeNull();
    } finally {
      await lonely.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('moves new requests to the new table within 1 s of the change, with no request failing while it runs', async () => {
    await operator.setRoutes(FRONTEND, { routes: [], defaultCluster: 'red' });
    const results: Array<{ sentAt: number; doneAt: number; outcome: string }> = [];
    let swappedAt: number | undefined;
    const stream = async () => {
      for (let sent = 0; sent < MAX_STREAM; sent++) {
        const after = swappedAt === undefined ? 0 : results.filter((r) => r.sentAt > swappedAt!).length;
        if (after >= AFTER_SWAP || results.length >= MAX_STREAM) return;
        const sentAt = performance.now();
        const outcome = await clusterFor(v('1.1')).catch((error: unknown) => `error ${String(error)}`);
        results.push({ sentAt, doneAt: performance.now(), outcome });
      }
    };
    const running = Promise.all(Array.from({ length: STREAM_WORKERS }, stream));
    await until('the stream to answer 100 requests', () => (results.length >= 100 ? true : undefined), { intervalMs: 10 });
    const putAt = performance.now();
    await operator.setRoutes(FRONTEND, NEW_CLIENTS_TO_WHITE);
    swappedAt = performance.now();
    await running;

    const failed = results.filter((r) => r.outcome !== 'red' && r.outcome !== 'white');
    const firstNew = Math.min(...results.filter((r) => r.outcome === 'white').map((r) => r.doneAt));
    const delayMs = Math.max(0, firstNew - swappedAt);
    const oldAfter = results.filter((r) => r.sentAt > swappedAt! && r.outcome === 'red').length;
    console.info(`route change: ${results.length} requests, ${failed.length} failed; the change took ${(swappedAt - putAt).toFixed(1)} ms through the relay; first request answered by the new table ${delayMs.toFixed(1)} ms after its answer; ${oldAfter} sent after it answered by the old one`);
    expect(failed).toEqual([]);
    expect(delayMs).toBeLessThanOrEqual(1_000);
    expect(oldAfter).toBe(0);
    expect(results.filter((r) => r.sentAt > swappedAt!).length).toBeGreaterThanOrEqual(AFTER_SWAP);
  });

  it('serves the same routes after HAProxy restarts, from the files the relay wrote', async () => {
    await operator.setRoutes(FRONTEND, { routes: [{ client: '<2', clientType: 'ios', cluster: 'white' }, { client: '>=1.1', cluster: 'white' }], defaultCluster: 'red' });
    const held = await routingState();
    await haproxy.restart();
    expect(await routingState()).toEqual(held);
    // Dynamic servers are not kept across a restart (a reload keeps them: save-servers.sh); registered again.
    await registerClusters();
    expect(await clusterFor(v('1.0', 'ios'))).toBe('white');
    expect(await clusterFor(v('1.0'))).toBe('red');
    expect(await clusterFor(v('1.1'))).toBe('white');
  });

  it("puts a retired cluster's servers into maintenance, for operators only", async () => {
    const host = new HAProxyRelayClient({ url: relay.url, token: hostToken, logger: silent });
    await expect(host.maintenance(CLUSTERS.red)).rejects.toThrow(/needs an operator credential/);
    expect((await direct.servers(CLUSTERS.red)).map((s) => s.state)).toEqual(['ready']);
    expect(await operator.maintenance(CLUSTERS.red)).toEqual([{ name: 'r1', address: addresses.red, state: 'maint' }]);
    expect(await direct.servers(CLUSTERS.red)).toEqual([{ name: 'r1', address: addresses.red, state: 'maint' }]);
    expect(await clusterFor(v('1.0'))).toBe('status 503');
    expect(await clusterFor(v('1.1'))).toBe('white');
  });
});
