// A routed frontend in haproxy.cfg, the relay's routing config and who may use the routing
// endpoints: each refusal names what is wrong. (HAProxy's own reading of these lines is tested
// in test/integration/lb-relay-routing.test.ts, against a real HAProxy.)
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideAccess } from '../../lb-relay/access.js';
import { RelayConfig } from '../../shared/contract/relay-config.js';
import { describeIssues } from '../../shared/contract/schemas.js';
import { haproxyConfig } from '../../shared/haproxy/haproxy-config.js';
import { createRoutingFiles } from '../../shared/haproxy/routed-frontend.js';

const BASE = { frontendBind: '127.0.0.1:8080', backends: ['web.red', 'web.white'], runtimeSocket: '/run/haproxy/admin.sock' };
const WEB = { name: 'web', bind: '127.0.0.1:8081', dir: '/etc/haproxy/routes', clusters: [{ cluster: 'red', backend: 'web.red' }, { cluster: 'white', backend: 'web.white' }] };

describe('a routed frontend in haproxy.cfg', () => {
  it('loads one integer ACL per cluster and the types map from its directory, the first cluster being the last resort', () => {
    const lines = haproxyConfig({ ...BASE, routedFrontends: [WEB] }).split('\n');
    const frontend = lines.slice(lines.indexOf('frontend web'), lines.indexOf('', lines.indexOf('frontend web')));
    expect(frontend).toContain('  bind 127.0.0.1:8081');
    expect(frontend).toContain('  acl gv_c_red var(txn.gv_key) -m int -f /etc/haproxy/routes/web.red.acl');
    expect(frontend).toContain('  acl gv_c_white var(txn.gv_key) -m int -f /etc/haproxy/routes/web.white.acl');
    expect(frontend).toContain('  use_backend web.white if gv_c_white');
    expect(frontend.at(-1)).toBe('  default_backend web.red');
    expect(frontend.some((line) => line.includes('map_str_int(/etc/haproxy/routes/web.types.map,0)'))).toBe(true);
    // The plain frontend is as before.
    expect(lines.slice(lines.indexOf('frontend fleet'), lines.indexOf('frontend fleet') + 3)).toEqual(['frontend fleet', '  bind 127.0.0.1:8080', '  default_backend web.red']);
  });

  it('refuses a cluster whose backend is not a backend, a shared backend, a relative directory and a taken frontend name', () => {
    const refusal = (frontend: object) => () => haproxyConfig({ ...BASE, routedFrontends: [{ ...WEB, ...frontend }] });
    expect(refusal({ clusters: [{ cluster: 'red', backend: 'web.green' }] })).toThrow(/backend "web.green" of cluster red is not one of the backends/);
    expect(refusal({ clusters: [{ cluster: 'red', backend: 'web.red' }, { cluster: 'white', backend: 'web.red' }] })).toThrow(/each cluster needs a backend of its own/);
    expect(refusal({ clusters: [{ cluster: 'Red', backend: 'web.red' }] })).toThrow(/cluster "Red" must be 1-32 characters/);
    expect(refusal({ dir: 'routes' })).toThrow(/dir "routes" must be an absolute path/);
    expect(refusal({ name: 'fleet' })).toThrow(/frontend names must be unique/);
    expect(refusal({ clusters: [] })).toThrow(/needs at least one cluster/);
  });

  it('creates the empty files HAProxy needs to start, and keeps those that exist', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gvtest-routing-files-'));
    try {
      await writeFile(path.join(dir, 'web.white.acl'), '100010000:999999999999\n');
      await createRoutingFiles(dir, [WEB]);
      expect((await readdir(dir)).sort()).toEqual(['web.red.acl', 'web.types.map', 'web.white.acl']);
      expect(await readFile(path.join(dir, 'web.white.acl'), 'utf8')).toBe('100010000:999999999999\n');
      expect(await readFile(path.join(dir, 'web.red.acl'), 'utf8')).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the relay's routing config", () => {
  const relay = { listen: { host: '127.0.0.1' }, runtimeApi: 'unix:/run/haproxy/admin.sock', redis: 'redis://127.0.0.1:6379', backends: ['web.red', 'web.white'] };
  const refusal = (routing: object) => {
    const parsed = RelayConfig.safeParse({ ...relay, routing });
    return parsed.success ? 'accepted' : describeIssues(parsed.error);
  };

  it('takes a directory and per frontend the backend of each cluster', () => {
    const routing = { dir: '/etc/haproxy/routes', frontends: { web: { clusters: { red: 'web.red', white: 'web.white' } } } };
    expect(RelayConfig.parse({ ...relay, routing }).routing).toEqual(routing);
  });

  it('refuses a backend outside backends, a shared backend, a bad cluster name and a relative directory, naming each', () => {
    expect(refusal({ dir: '/r', frontends: { web: { clusters: { red: 'web.red', green: 'web.green' } } } })).toMatch(/routing\.frontends\.web\.clusters\.green.*backend web\.green must be one of backends/);
    expect(refusal({ dir: '/r', frontends: { web: { clusters: { red: 'web.red', white: 'web.red' } } } })).toMatch(/each cluster needs a backend of its own/);
    expect(refusal({ dir: '/r', frontends: { web: { clusters: { Red: 'web.red' } } } })).toMatch(/routing\.frontends\.web\.clusters/);
    expect(refusal({ dir: 'routes', frontends: { web: { clusters: { red: 'web.red' } } } })).toMatch(/routing\.dir.*absolute path/);
  });
});

describe('who may use the routing endpoints', () => {
  const policy = { backends: ['web.red'], hostAddresses: {} };
  const request = { backend: '', sourceIp: '127.0.0.1' };
  it('lets an operator read and set a frontend\'s routes and retire a backend, and refuses hosts and deployers', () => {
    for (const action of ['read-routes', 'set-routes'] as const) {
      expect(decideAccess({ scope: 'operator' }, { ...request, action }, policy)).toEqual({ allowed: true });
      expect(decideAccess({ scope: 'host', host: 'h1' }, { ...request, action }, policy)).toMatchObject({ allowed: false, reason: expect.stringMatching(/needs an operator credential/) });
      expect(decideAccess({ scope: 'deployer' }, { ...request, action }, policy)).toMatchObject({ allowed: false });
    }
    expect(decideAccess({ scope: 'operator' }, { ...request, action: 'maintenance', backend: 'web.red' }, policy)).toEqual({ allowed: true });
    expect(decideAccess({ scope: 'operator' }, { ...request, action: 'maintenance', backend: 'admin' }, policy)).toMatchObject({ allowed: false, reason: expect.stringMatching(/not admin/) });
    expect(decideAccess({ scope: 'host', host: 'h1' }, { ...request, action: 'maintenance', backend: 'web.red', server: 'h1' }, policy)).toMatchObject({ allowed: false });
  });
});
