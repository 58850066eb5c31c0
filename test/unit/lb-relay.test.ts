// The load balancer's relay in-process: who may drain, register and read which server (a
// host only its own, at the address it connects from; an operator any), what a refused or
// malformed request answers, and that the actor, never the token, is logged.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createRelayApp } from '../../lb-relay/app.js';
import { decideAccess, normalizeIp } from '../../lb-relay/access.js';
import { UnreachableError } from '../../shared/contract/errors.js';
import type { Credential, CredentialVerifier } from '../../shared/ports/credentials.js';
import type { BackendServer, LoadBalancer, RegisterOptions } from '../../shared/ports/load-balancer.js';
import type { WeightedServer } from '../../shared/ports/traffic.js';

const policy = { backends: ['web-production'], hostAddresses: { h3: ['192.0.2.33'] } };
const credential = (scope: Credential['scope'], host?: string): Credential => ({
  id: `t-${scope}${host ?? ''}`,
  scope,
  name: host ?? scope,
  createdAt: 0,
  createdBy: 'operator bootstrap (t-0)',
  ...(host ? { host } : {}),
});
const TOKENS: Record<string, Credential> = {
  'host-h1': credential('host', 'h1'),
  'host-h3': credential('host', 'h3'),
  operator: credential('operator'),
  deployer: credential('deployer'),
  viewer: credential('viewer'),
};

/** A load balancer that records what it was asked: the relay's rules are under test here, HAProxy in the integration test. */
class RecordingLoadBalancer implements LoadBalancer {
  readonly calls: string[] = [];
  drainTimeouts: number[] = [];
  async drain(backend: string, server: string): Promise<void> {
    this.calls.push(`drain ${backend}/${server}`);
  }
  async register(backend: string, server: string, address: string, _context?: unknown, options: RegisterOptions = {}): Promise<void> {
    this.calls.push(`register ${backend}/${server} ${address}${options.weight === undefined ? '' : ` weight ${options.weight}`}`);
  }
  async servers(): Promise<BackendServer[]> {
    return [{ name: 'h1', address: '192.0.2.11:8080', state: 'ready' }];
  }
  async setWeights(backend: string, weights: Record<string, number>): Promise<void> {
    this.calls.push(`weights ${backend} ${JSON.stringify(weights)}`);
  }
  async weights(): Promise<WeightedServer[]> {
    return [{ name: 'h1', address: '192.0.2.11:8080', state: 'ready', weight: 100 }];
  }
}

function relay(options: { source?: string; verifier?: CredentialVerifier } = {}) {
  const lb = new RecordingLoadBalancer();
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
  const app = createRelayApp({
    verifier: options.verifier ?? { verify: async (token) => TOKENS[token] },
    loadBalancer: (drainTimeoutMs) => (lb.drainTimeouts.push(drainTimeoutMs), lb),
    policy,
    maxDrainTimeoutMs: 30_000,
    logger: pino({ level: 'info' }, sink),
    sourceIp: () => options.source ?? '::ffff:192.0.2.11',
  });
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
  };
  return { lb, lines, call };
}

const DRAIN_H1 = '/v1/backends/web-production/servers/h1/drain';
const REGISTER_H1 = '/v1/backends/web-production/servers/h1/register';

describe('relay access rules', () => {
  const request = { backend: 'web-production', sourceIp: '192.0.2.11' };
  it('lets a host drain and register only the server named after it, at its own address', () => {
    expect(decideAccess(TOKENS['host-h1']!, { ...request, action: 'drain', server: 'h1' }, policy)).toEqual({ allowed: true });
    expect(decideAccess(TOKENS['host-h1']!, { ...request, action: 'register', server: 'h1', addressIp: '192.0.2.11' }, policy)).toEqual({ allowed: true });
    expect(decideAccess(TOKENS['host-h1']!, { ...request, action: 'drain', server: 'h2' }, policy)).toMatchObject({ allowed: false, reason: expect.stringMatching(/only the server h1, not h2/) });
    expect(decideAccess(TOKENS['host-h1']!, { ...request, action: 'register', server: 'h1', addressIp: '192.0.2.99' }, policy)).toMatchObject({
      allowed: false,
      reason: expect.stringMatching(/only at the address it connects from \(192\.0\.2\.11\), not 192\.0\.2\.99/),
    });
  });

  it('takes the extra addresses the config lists for a host, and any address from an operator', () => {
    expect(decideAccess(TOKENS['host-h3']!, { ...request, action: 'register', server: 'h3', addressIp: '192.0.2.33' }, policy)).toEqual({ allowed: true });
    expect(decideAccess(TOKENS.operator!, { ...request, action: 'register', server: 'h2', addressIp: '198.51.100.1' }, policy)).toEqual({ allowed: true });
  });

  it('refuses deployers, viewers and backends the relay does not serve', () => {
    for (const scope of ['deployer', 'viewer'] as const) {
      expect(decideAccess(TOKENS[scope]!, { ...request, action: 'read' }, policy)).toMatchObject({ allowed: false, reason: expect.stringMatching(/needs a host credential .* or an operator credential; this is a (deployer|viewer)/) });
    }
    expect(decideAccess(TOKENS.operator!, { ...request, backend: 'admin', action: 'read' }, policy)).toMatchObject({ allowed: false, reason: expect.stringMatching(/only on the backends web-production, not admin/) });
  });

  it("lets a host drain and register its colours' servers, and no other name", () => {
    const h1 = TOKENS['host-h1']!;
    for (const server of ['h1', 'h1.blue', 'h1.green']) {
      expect(decideAccess(h1, { ...request, action: 'drain', server }, policy), server).toEqual({ allowed: true });
      expect(decideAccess(h1, { ...request, action: 'register', server, addressIp: '192.0.2.11' }, policy), server).toEqual({ allowed: true });
    }
    for (const server of ['h2.blue', 'h1.red', 'h1.blue.green', 'h1-blue', 'h1.', 'h11', 'blue']) {
      expect(decideAccess(h1, { ...request, action: 'drain', server }, policy), server).toMatchObject({
        allowed: false,
        reason: expect.stringMatching(/only the server h1, not .* \(a host's servers are h1 and, for a blue\/green role, h1\.blue and h1\.green\)/),
      });
    }
    // A colour's server is still held to the host's own address.
    expect(decideAccess(h1, { ...request, action: 'register', server: 'h1.green', addressIp: '192.0.2.99' }, policy)).toMatchObject({ allowed: false });
  });

  it("keeps a backend's weights and traffic to operator credentials", () => {
    for (const action of ['read-weights', 'set-weights', 'read-traffic'] as const) {
      expect(decideAccess(TOKENS.operator!, { ...request, action }, policy), action).toEqual({ allowed: true });
      for (const who of ['host-h1', 'deployer', 'viewer']) {
        expect(decideAccess(TOKENS[who]!, { ...request, action }, policy), `${who} ${action}`).toMatchObject({
          allowed: false,
          reason: expect.stringMatching(new RegExp(`${action} through the relay needs an operator credential`)),
        });
      }
    }
  });

  it('reads an IPv4 client on a dual-stack socket as its IPv4 address', () => {
    expect(normalizeIp('::ffff:10.0.0.5')).toBe('10.0.0.5');
    expect(normalizeIp('FE80::1')).toBe('fe80::1');
  });
});

describe('relay HTTP API', () => {
  it("changes a host's own server and logs the actor, never the token", async () => {
    const { lb, lines, call } = relay();
    expect(await call('POST', DRAIN_H1, 'host-h1', { timeoutMs: 2_000 })).toEqual({ status: 200, body: { ok: true } });
    expect(await call('POST', REGISTER_H1, 'host-h1', { address: '192.0.2.11:8080' })).toEqual({ status: 200, body: { ok: true } });
    expect(lb.calls).toEqual(['drain web-production/h1', 'register web-production/h1 192.0.2.11:8080']);
    const log = lines.join('');
    expect(log).toMatch(/"actor":"host h1 \(t-hosth1\)".*server drained through the relay/);
    expect(log).toMatch(/"actor":"host h1 \(t-hosth1\)".*"address":"192.0.2.11:8080".*server registered through the relay/);
    expect(log).not.toContain('host-h1"');
  });

  it('caps the drain a host asks for at the relay maximum', async () => {
    const { lb, call } = relay();
    await call('POST', DRAIN_H1, 'host-h1', { timeoutMs: 600_000 });
    expect(lb.drainTimeouts).toEqual([30_000]);
  });

  it('answers 401 without a valid token and 403 outside the credential, changing nothing', async () => {
    const { lb, lines, call } = relay();
    expect((await call('POST', DRAIN_H1, undefined, {})).status).toBe(401);
    expect((await call('POST', DRAIN_H1, 'forged', {})).status).toBe(401);
    const other = await call('POST', '/v1/backends/web-production/servers/h2/drain', 'host-h1', {});
    expect(other).toMatchObject({ status: 403, body: { error: { code: 'forbidden', message: expect.stringMatching(/only the server h1, not h2/) } } });
    expect((await call('POST', DRAIN_H1, 'deployer', {})).status).toBe(403);
    expect((await call('POST', REGISTER_H1, 'host-h1', { address: '192.0.2.12:8080' })).status).toBe(403);
    expect(lb.calls).toEqual([]);
    expect(lines.join('')).toMatch(/"actor":"host h1 \(t-hosth1\)".*refused a load-balancer request/);
    expect(lines.join('')).not.toContain('forged');
  });

  it('lets hosts and operators read the backend, nobody else', async () => {
    const { call } = relay();
    expect(await call('GET', '/v1/backends/web-production/servers', 'host-h3')).toEqual({
      status: 200,
      body: { servers: [{ name: 'h1', address: '192.0.2.11:8080', state: 'ready' }] },
    });
    expect((await call('GET', '/v1/backends/web-production/servers', 'operator')).status).toBe(200);
    expect((await call('GET', '/v1/backends/web-production/servers', 'viewer')).status).toBe(403);
  });

  it('refuses malformed names, bodies and addresses with a 400 naming the field', async () => {
    const { lb, call } = relay();
    expect(await call('POST', '/v1/backends/web-production/servers/h1;shutdown/drain', 'host-h1', {})).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/invalid path: server must be 1-64 letters/) } },
    });
    expect(await call('POST', REGISTER_H1, 'host-h1', { address: 'app.example:8080' })).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/invalid body: address must be ip:port/) } },
    });
    expect(await call('POST', REGISTER_H1, 'host-h1', { address: '192.0.2.11:8080', port: 1 })).toMatchObject({ status: 400 });
    expect(await call('POST', REGISTER_H1, 'host-h1', { address: '192.0.2.11:8080', weight: 257 })).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/weight must be from 0 to 256/) } },
    });
    expect(lb.calls).toEqual([]);
  });

  it('answers 502 when the credential store does not answer', async () => {
    const { call } = relay({ verifier: { verify: async () => Promise.reject(new UnreachableError('redis down')) } });
    expect((await call('POST', DRAIN_H1, 'host-h1', {})).status).toBe(502);
  });
});
