// The relay's weights and traffic in-process: HAProxy's access log lines as the relay reads
// them, the per-second counts it keeps (bounded), and the operator-only API over both. A real
// HAProxy sending real lines is test/integration/lb-relay-traffic.test.ts.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseAccessLine } from '../../lb-relay/access-log.js';
import { createRelayApp, type LocalLoadBalancer } from '../../lb-relay/app.js';
import { TrafficStore, type AccessEntry } from '../../lb-relay/traffic-store.js';
import { RelayConfig } from '../../shared/contract/relay-config.js';
import { ACCESS_LOG_FORMAT, haproxyConfig } from '../../shared/haproxy/haproxy-config.js';
import type { Credential } from '../../shared/ports/credentials.js';

const BACKEND = 'web-production';
const entry = (server: string, status: number, responseMs?: number): AccessEntry => ({ backend: BACKEND, server, status, responseMs });

describe('access log lines', () => {
  it('reads backend, server, status and response time, -1 as never answered', () => {
    expect(ACCESS_LOG_FORMAT).toBe('gv1 %b %s %ST %Tr %Ta');
    expect(parseAccessLine('gv1 web-production h1.blue 200 12 13')).toEqual({ backend: BACKEND, server: 'h1.blue', status: 200, responseMs: 12 });
    expect(parseAccessLine('gv1 web-production h2 503 -1 501\n')).toEqual({ backend: BACKEND, server: 'h2', status: 503, responseMs: undefined });
  });

  it('ignores lines of another format, without a server, or with names HAProxy would not hold', () => {
    for (const line of ['', 'gv1 web-production h1 200 12', 'gv2 web-production h1 200 12 13', '<134>Dec  2 web h1 200', 'gv1 web-production <NOSRV> 503 -1 0', 'gv1 web h1 2xx 1 1', 'gv1 web h1 200 1.5 2']) {
      expect(parseAccessLine(line), line).toBeUndefined();
    }
  });
});

describe('traffic store', () => {
  it('counts requests, 5xx answers and response times per server and second, oldest first', () => {
    let now = 1_700_000_000_400;
    const store = new TrafficStore({ backends: [BACKEND], retainMs: 60_000, now: () => now });
    store.record(entry('h1', 200, 10));
    store.record(entry('h1', 500, 30));
    store.record(entry('h2', 502));
    now += 1_000;
    store.record(entry('h1', 200, 5));
    expect(store.read(BACKEND, 1_700_000_000_000, 1_700_000_002_000)).toEqual([
      {
        server: 'h1',
        buckets: [
          { at: 1_700_000_000_000, requests: 2, errors: 1, latencySumMs: 40, timed: 2 },
          { at: 1_700_000_001_000, requests: 1, errors: 0, latencySumMs: 5, timed: 1 },
        ],
      },
      { server: 'h2', buckets: [{ at: 1_700_000_000_000, requests: 1, errors: 1, latencySumMs: 0, timed: 0 }] },
    ]);
    // [from, to): a bucket starting at `to` is left out, one starting at `from` kept.
    expect(store.read(BACKEND, 1_700_000_001_000, 1_700_000_002_000)).toEqual([{ server: 'h1', buckets: [expect.objectContaining({ at: 1_700_000_001_000 })] }]);
    expect(store.read(BACKEND, 1_700_000_000_001, 1_700_000_001_000)).toEqual([]);
  });

  it('forgets seconds older than its retention, even when their slot was not reused', () => {
    let now = 1_000_000;
    const store = new TrafficStore({ backends: [BACKEND], retainMs: 10_000, now: () => now });
    store.record(entry('h1', 200, 1));
    now += 11_000;
    store.record(entry('h2', 200, 1));
    expect(store.read(BACKEND, 0, now + 1_000).map((s) => s.server)).toEqual(['h2']);
    // The ring reuses a slot for a second one retention later, starting its counts over.
    now += 1_000;
    store.record(entry('h1', 200, 7));
    expect(store.read(BACKEND, 0, now + 1_000).find((s) => s.server === 'h1')?.buckets).toEqual([{ at: now, requests: 1, errors: 0, latencySumMs: 7, timed: 1 }]);
  });

  it('holds at most maxServers servers a backend, making room only from servers idle past the retention, and only its backends', () => {
    let now = 5_000_000;
    const store = new TrafficStore({ backends: [BACKEND], retainMs: 10_000, maxServers: 2, now: () => now });
    expect(store.record(entry('h1', 200, 1))).toBe(true);
    expect(store.record(entry('h2', 200, 1))).toBe(true);
    expect(store.record(entry('h3', 200, 1))).toBe(false);
    expect(store.record({ ...entry('h1', 200, 1), backend: 'admin' })).toBe(false);
    expect(store.dropped).toBe(2);
    now += 12_000;
    store.record(entry('h2', 200, 1));
    expect(store.record(entry('h3', 200, 1))).toBe(true);
    expect(store.read(BACKEND, 0, now + 1_000).map((s) => s.server)).toEqual(['h2', 'h3']);
  });
});

describe('relay and haproxy config of the access log', () => {
  const base = { listen: { host: '127.0.0.1' }, runtimeApi: 'unix:/run/haproxy/admin.sock', redis: 'redis://127.0.0.1:6379', backends: [BACKEND] };
  it('takes a loopback UDP address and keeps 15 minutes unless told', () => {
    expect(RelayConfig.parse({ ...base, accessLog: { listen: '127.0.0.1:7702' } }).accessLog).toEqual({ listen: '127.0.0.1:7702', retainMs: 900_000 });
    expect(RelayConfig.parse(base).accessLog).toBeUndefined();
  });

  it('refuses an address beyond loopback and a retention out of bounds, naming the field', () => {
    const problems = (accessLog: unknown) => RelayConfig.safeParse({ ...base, accessLog }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(problems({ listen: '0.0.0.0:7702' })).toEqual([expect.stringMatching(/^accessLog\.listen: must be a loopback ip:port/)]);
    expect(problems({ listen: '127.0.0.1:70000' })).toEqual([expect.stringMatching(/^accessLog\.listen: port must be at most 65535/)]);
    expect(problems({ listen: '127.0.0.1:7702', retainMs: 2 * 60 * 60_000 })).toEqual([expect.stringMatching(/^accessLog\.retainMs: must be at most/)]);
  });

  it('writes the log line, its format and every backend servers default weight of 100 into haproxy.cfg', () => {
    const config = haproxyConfig({ frontendBind: '127.0.0.1:8800', backends: ['a', 'b'], runtimeSocket: '/run/admin.sock', accessLog: '127.0.0.1:7702' });
    expect(config).toContain('  log 127.0.0.1:7702 len 2048 format raw local0\n  log-format "gv1 %b %s %ST %Tr %Ta"\n');
    expect(config.match(/default-server weight 100/g)).toHaveLength(2);
    expect(haproxyConfig({ frontendBind: '127.0.0.1:8800', backends: ['a'], runtimeSocket: '/run/admin.sock' })).not.toContain('log');
    expect(() => haproxyConfig({ frontendBind: '127.0.0.1:8800', backends: ['a'], runtimeSocket: '/run/admin.sock', accessLog: '10.0.0.1:514' })).toThrow(/access log address "10.0.0.1:514" must be a loopback/);
  });
});

const credential = (scope: Credential['scope'], host?: string): Credential => ({ id: `t-${scope}`, scope, name: scope, createdAt: 0, createdBy: 'test', ...(host ? { host } : {}) });
const TOKENS: Record<string, Credential> = { operator: credential('operator'), 'host-h1': credential('host', 'h1') };

function relay(traffic?: TrafficStore) {
  const calls: string[] = [];
  const lb: LocalLoadBalancer = {
    drain: async () => undefined,
    register: async (backend, server, address, _context, options) => void calls.push(`register ${backend}/${server} ${address} ${JSON.stringify(options)}`),
    servers: async () => [],
    setWeights: async (backend, weights) => void calls.push(`weights ${backend} ${JSON.stringify(weights)}`),
    weights: async () => [{ name: 'h1', address: '192.0.2.11:8080', state: 'ready', weight: 100 }],
  };
  const app = createRelayApp({
    verifier: { verify: async (token) => TOKENS[token] },
    loadBalancer: () => lb,
    policy: { backends: [BACKEND], hostAddresses: {} },
    maxDrainTimeoutMs: 30_000,
    logger: pino({ level: 'silent' }),
    sourceIp: () => '192.0.2.11',
    ...(traffic ? { traffic } : {}),
  });
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as { error?: { message: string } } };
  };
  return { calls, call };
}

describe('relay weights and traffic API', () => {
  const WEIGHTS = `/v1/backends/${BACKEND}/weights`;
  it('lets an operator read and set the weights, all servers in one call', async () => {
    const { calls, call } = relay();
    expect(await call('GET', WEIGHTS, 'operator')).toEqual({ status: 200, body: { servers: [{ name: 'h1', address: '192.0.2.11:8080', state: 'ready', weight: 100 }] } });
    expect(await call('POST', WEIGHTS, 'operator', { weights: { 'h1.blue': 0, 'h1.green': 100 } })).toEqual({ status: 200, body: { ok: true } });
    expect(calls).toEqual([`weights ${BACKEND} {"h1.blue":0,"h1.green":100}`]);
  });

  it('refuses a host credential with a 403 naming the scope needed, and changes nothing', async () => {
    const { calls, call } = relay(new TrafficStore({ backends: [BACKEND], retainMs: 60_000 }));
    for (const [method, path, body] of [['GET', WEIGHTS], ['POST', WEIGHTS, { weights: { h1: 0 } }], ['GET', `/v1/backends/${BACKEND}/traffic?from=0&to=1000`]] as const) {
      expect(await call(method, path, 'host-h1', body), `${method} ${path}`).toMatchObject({ status: 403, body: { error: { message: expect.stringMatching(/needs an operator credential/) } } });
    }
    expect(calls).toEqual([]);
  });

  it('refuses bad weights with a 400 naming the server or the bound', async () => {
    const { calls, call } = relay();
    const refused = async (weights: unknown) => (await call('POST', WEIGHTS, 'operator', { weights })).body.error?.message;
    expect(await refused({ h1: 257 })).toMatch(/weights\.h1 must be from 0 to 256/);
    expect(await refused({ h1: 1.5 })).toMatch(/weights\.h1 must be a whole number/);
    expect(await refused({ 'h1;shutdown': 1 })).toMatch(/1-64 letters/);
    expect(await refused({})).toMatch(/at least one server/);
    expect(await refused(Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`h${i}`, 1])))).toMatch(/at most 1000 servers/);
    expect(calls).toEqual([]);
  });

  it('passes a registration weight through, and serves traffic within the retention', async () => {
    const now = Date.now();
    const store = new TrafficStore({ backends: [BACKEND], retainMs: 60_000 });
    store.record(entry('h1', 500, 20));
    const { calls, call } = relay(store);
    await call('POST', `/v1/backends/${BACKEND}/servers/h1.green/register`, 'host-h1', { address: '192.0.2.11:8081', weight: 0 });
    expect(calls).toEqual([`register ${BACKEND}/h1.green 192.0.2.11:8081 {"weight":0}`]);
    const traffic = await call('GET', `/v1/backends/${BACKEND}/traffic?from=${now - 5_000}&to=${now + 5_000}`, 'operator');
    expect(traffic).toEqual({ status: 200, body: { servers: [{ server: 'h1', buckets: [expect.objectContaining({ requests: 1, errors: 1, latencySumMs: 20, timed: 1 })] }] } });
    const bad = async (query: string) => (await call('GET', `/v1/backends/${BACKEND}/traffic?${query}`, 'operator')).body.error?.message;
    expect(await bad(`from=${now}&to=${now}`)).toMatch(/to must be after from/);
    expect(await bad('from=abc&to=5')).toMatch(/from must be a whole number of ms/);
    expect(await bad(`from=${now - 61_000}&to=${now}`)).toMatch(/at most 60000 ms, the traffic this relay keeps/);
  });

  it('takes a thousand servers of long names in one weights body, and keeps a registration body small', async () => {
    const { calls, call } = relay();
    const thousand = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`${'h'.repeat(60)}${String(i).padStart(4, '0')}`, 256]));
    expect((await call('POST', WEIGHTS, 'operator', { weights: thousand })).status).toBe(200);
    expect(calls).toHaveLength(1);
    const register = await call('POST', `/v1/backends/${BACKEND}/servers/h1/register`, 'host-h1', { address: '192.0.2.11:8080', padding: 'x'.repeat(5_000) });
    expect(register.status).toBe(413);
    expect(calls).toHaveLength(1);
  });

  it('answers 404 to a traffic read when the relay receives no access log', async () => {
    const { call } = relay();
    expect(await call('GET', `/v1/backends/${BACKEND}/traffic?from=0&to=1000`, 'operator')).toMatchObject({ status: 404, body: { error: { message: expect.stringMatching(/accessLog is not set/) } } });
  });
});
