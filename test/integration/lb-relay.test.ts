// The load balancer's relay against a real HAProxy and a real Redis: each test is an operator
// story of what a host credential can and cannot do to the servers HAProxy holds.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRelay, type RunningRelay } from '../../lb-relay/server.js';
import { createLocalCa, issueServerCertificate } from '../../dev-cluster/local-ca.js';
import { ForbiddenError, UnauthorizedError } from '../../shared/contract/errors.js';
import { RelayConfig } from '../../shared/contract/relay-config.js';
import { HAProxyRelayClient } from '../../shared/haproxy/relay-client.js';
import { HAProxyRuntimeApi } from '../../shared/haproxy/runtime-api.js';
import { CertificateError } from '../../shared/http/tls-failure.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';
import { startHAProxy, type HAProxyInstance } from '../fixtures/haproxy.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const BACKEND = 'web';

let haproxy: HAProxyInstance;
let redisDb: RedisInstance;
let redis: Redis;
let relay: RunningRelay;
let haproxyDirect: HAProxyRuntimeApi;
const tokens: Record<string, string> = {};
const apps: http.Server[] = [];

/** An app that answers with its host's name, on loopback, where the relay sees its host connect from. */
async function startApp(name: string): Promise<string> {
  const server = http.createServer((_request, response) => response.end(name));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apps.push(server);
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const client = (token: string) => new HAProxyRelayClient({ url: relay.url, token, drainTimeoutMs: 1_000, logger: silent });
const stateOf = async (server: string) => (await haproxyDirect.servers(BACKEND)).find((s) => s.name === server);

beforeAll(async () => {
  haproxy = await startHAProxy({ backends: [BACKEND] });
  redisDb = await startRedis();
  redis = new Redis(redisDb.url);
  const store = new RedisCredentialStore({ redis, logger: silent });
  const mint = async (key: string, spec: { scope: 'host' | 'deployer' | 'operator'; host?: string }) => {
    tokens[key] = (await store.create({ ...spec, name: key, createdBy: 'test' })).token;
  };
  await mint('h1', { scope: 'host', host: 'h1' });
  await mint('h2', { scope: 'host', host: 'h2' });
  await mint('deployer', { scope: 'deployer' });
  await mint('operator', { scope: 'operator' });
  const config = RelayConfig.parse({ listen: { host: '127.0.0.1', port: 0 }, runtimeApi: `unix:${haproxy.runtimeSocket}`, redis: redisDb.url, backends: [BACKEND] });
  relay = await startRelay(config, silent);
  haproxyDirect = new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 1_000, logger: silent });
});

afterAll(async () => {
  await relay?.stop();
  for (const app of apps) app.close();
  redis?.disconnect();
  await redisDb?.[Symbol.asyncDispose]();
  await haproxy?.[Symbol.asyncDispose]();
});

describe("the load balancer's relay against a real HAProxy", () => {
  it('lets a host register, read and drain its own server, and the frontend serves it while it is in', async () => {
    const address = await startApp('h1');
    const h1 = client(tokens.h1!);
    await h1.register(BACKEND, 'h1', address);
    expect(await stateOf('h1')).toEqual({ name: 'h1', address, state: 'ready' });
    expect(await (await fetch(haproxy.url)).text()).toBe('h1');
    expect(await h1.servers(BACKEND)).toContainEqual({ name: 'h1', address, state: 'ready' });

    await h1.drain(BACKEND, 'h1');
    expect((await stateOf('h1'))?.state).toBe('maint');
    await h1.register(BACKEND, 'h1', address);
    expect((await stateOf('h1'))?.state).toBe('ready');
  });

  it("refuses a host acting on another host's server, and HAProxy keeps that server as it was", async () => {
    await client(tokens.h2!).register(BACKEND, 'h2', await startApp('h2'));
    const before = await stateOf('h2');
    expect(before?.state).toBe('ready');
    const h1 = client(tokens.h1!);
    await expect(h1.drain(BACKEND, 'h2')).rejects.toThrow(ForbiddenError);
    await expect(h1.register(BACKEND, 'h2', '127.0.0.1:9')).rejects.toThrow(/may register only the server h1, not h2/);
    expect(await stateOf('h2')).toEqual(before);
  });

  it('refuses a host pointing its own server at an address it does not connect from', async () => {
    const before = await stateOf('h1');
    await expect(client(tokens.h1!).register(BACKEND, 'h1', '192.0.2.50:8080')).rejects.toThrow(
      /only at the address it connects from \(127\.0\.0\.1\), not 192\.0\.2\.50/,
    );
    expect(await stateOf('h1')).toEqual(before);
  });

  it('answers 401 without a token or with one it does not know, and 403 to a deployer', async () => {
    const drain = `${relay.url}/v1/backends/${BACKEND}/servers/h1/drain`;
    const post = (headers: Record<string, string>) => fetch(drain, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
    const none = await post({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post({ authorization: `Bearer gv_${'A'.repeat(43)}` })).status).toBe(401);
    await expect(client('not-a-token').drain(BACKEND, 'h1')).rejects.toThrow(UnauthorizedError);
    const deployer = await post({ authorization: `Bearer ${tokens.deployer}` });
    expect(deployer.status).toBe(403);
    expect(await deployer.json()).toMatchObject({ error: { code: 'forbidden', message: expect.stringMatching(/needs a host credential/) } });
    expect((await stateOf('h1'))?.state).toBe('ready');
  });

  it("lets an operator drain and put back any host's server, for repairs", async () => {
    const operator = client(tokens.operator!);
    const address = (await stateOf('h2'))!.address;
    await operator.drain(BACKEND, 'h2');
    expect((await stateOf('h2'))?.state).toBe('maint');
    await operator.register(BACKEND, 'h2', address);
    expect((await stateOf('h2'))?.state).toBe('ready');
  });

  it('serves HTTPS that an agent verifies with its CA file, and a client without that CA is refused before any token is sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gvtest-relay-tls-'));
    const ca = await createLocalCa(join(dir, 'tls'), 'gvtest-relay');
    const certificate = await issueServerCertificate(ca, 'lb-relay', ['127.0.0.1']);
    const config = RelayConfig.parse({
      listen: { host: '127.0.0.1', port: 0 },
      runtimeApi: `unix:${haproxy.runtimeSocket}`,
      redis: redisDb.url,
      backends: [BACKEND],
      tls: { certFile: certificate.certFile, keyFile: certificate.keyFile },
    });
    const secure = await startRelay(config, silent);
    try {
      expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const trusted = new HAProxyRelayClient({ url: secure.url, token: tokens.h1!, drainTimeoutMs: 1_000, caFile: ca.caFile, logger: silent });
      expect(await trusted.servers(BACKEND)).toContainEqual(expect.objectContaining({ name: 'h1', state: 'ready' }));
      const untrusting = new HAProxyRelayClient({ url: secure.url, token: tokens.h1!, drainTimeoutMs: 1_000, logger: silent });
      await expect(untrusting.servers(BACKEND)).rejects.toThrow(CertificateError);
    } finally {
      await secure.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
