// Scoped credentials at the coordinator, in process on an in-memory store: who may call
// which route, what a host credential may touch, who a deploy and a broken mark name, and
// the token API. Real Redis behind the same routes: test/integration/coordinator-credentials.test.ts.
import { beforeEach, describe, expect, it } from 'vitest';
import { HostAccess } from '../../coordinator/auth/host-access.js';
import { scopeAllows, scopeRefusal } from '../../coordinator/auth/scopes.js';
import type { Credential } from '../../shared/ports/credentials.js';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

let store: InMemoryDeployStore;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  const members = new ListedMembers(['h1', 'h2', 'h3']);
  // h9 is a production host of another role only.
  members.add('production', ['h9'], 'api');
  coordinator = new CoordinatorHarness({ store, fleet: new RecordingFleet(), members });
});

const call = (...args: Parameters<CoordinatorHarness['call']>) => coordinator.call(...args);

describe('the scope order', () => {
  it('ranks viewer < deployer < operator, and admits a host only where host is named', () => {
    expect(scopeAllows('operator', ['deployer'])).toBe(true);
    expect(scopeAllows('deployer', ['viewer'])).toBe(true);
    expect(scopeAllows('viewer', ['deployer'])).toBe(false);
    expect(scopeAllows('deployer', ['operator'])).toBe(false);
    expect(scopeAllows('host', ['viewer'])).toBe(false);
    expect(scopeAllows('host', ['viewer', 'host'])).toBe(true);
    expect(scopeAllows('operator', ['host'])).toBe(false);
  });

  it('names the scope needed and the one presented', () => {
    expect(scopeRefusal('POST', '/v1/deploys', ['deployer'], { scope: 'host', name: 'h1', host: 'h1' })).toBe(
      'POST /v1/deploys needs the deployer scope; this credential (host h1) is host',
    );
  });
});

describe('a host credential', () => {
  it('cannot publish or deploy: 403 naming the deployer scope, nothing stored or fired', async () => {
    const token = await coordinator.hostToken('h1');
    const publish = await call('POST', '/v1/releases', { role: 'web', tag: 'v9' }, { token });
    expect(publish).toEqual({
      status: 403,
      body: { error: { code: 'forbidden', message: 'POST /v1/releases needs the deployer scope; this credential (host h1) is host' } },
    });
    await coordinator.publish('web', 'v1');
    const deploy = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' }, { token });
    expect(deploy.status).toBe(403);
    expect(deploy.body.error.message).toBe('POST /v1/deploys needs the deployer scope; this credential (host h1) is host');
    expect(await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' }, { token })).toMatchObject({ status: 403 });
    expect(await call('POST', '/v1/releases/web/v1/broken', { reason: 'x' }, { token })).toMatchObject({ status: 403 });
    expect(await call('POST', '/v1/tokens', { scope: 'operator' }, { token })).toMatchObject({ status: 403 });
    expect(await store.listReleases('web')).toHaveLength(1);
    expect(coordinator.events.fired).toEqual([]);
    expect((await store.getRelease('web', 'v1'))?.broken).toBeUndefined();
  });

  it('cannot report as another host: 403, and that host stays as it was', async () => {
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(deploy.id, 'h2', 'waiting');
    const forged = coordinator.hostReport('h2', 'succeeded', { counted: 3, remaining: 0 });
    const answer = await call('POST', `/v1/deploys/${deploy.id}/reports`, forged, { token: await coordinator.hostToken('h1') });
    expect(answer.status).toBe(403);
    expect(answer.body.error.message).toBe('host h1 may report only as itself, not as h2');
    const after = await coordinator.getDeploy(deploy.id);
    expect(after.hosts.h2?.state).toBe('waiting');
    expect(after.status).toBe('in_progress');
  });

  it('cannot report for a deploy that does not target it: 403, nothing recorded', async () => {
    await coordinator.publish('web', 'v1');
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    const answer = await call('POST', `/v1/deploys/${staging.id}/reports`, coordinator.hostReport('h1', 'failed', { error: 'forged' }), {
      token: await coordinator.hostToken('h1'),
    });
    expect(answer.status).toBe(403);
    expect(answer.body.error.message).toBe(`deploy ${staging.id} does not target host h1; a host reports only for deploys that target it`);
    expect((await coordinator.getDeploy(staging.id)).hosts).toEqual({});
    expect((await store.getRelease('web', 'v1'))?.broken).toBeUndefined();
  });

  it('reports as itself for a deploy that targets it, and 404s an unknown deploy', async () => {
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production', 'v1');
    const token = await coordinator.hostToken('h1');
    expect((await call('POST', `/v1/deploys/${deploy.id}/reports`, coordinator.hostReport('h1', 'deploying'), { token })).status).toBe(200);
    expect((await call('POST', '/v1/deploys/d-abcdef123/reports', coordinator.hostReport('h1', 'deploying'), { token })).status).toBe(404);
  });

  it('reads deploys that target it or of its groups, and lists only its own group', async () => {
    await coordinator.publish('web', 'v1');
    const production = await coordinator.deploy('web', 'production', 'v1');
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    const h1 = await coordinator.hostToken('h1');
    expect((await call('GET', `/v1/deploys/${production.id}`, undefined, { token: h1 })).status).toBe(200);
    const other = await call('GET', `/v1/deploys/${staging.id}`, undefined, { token: h1 });
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/^host h1 may read only deploys that target it or of a group it belongs to/);

    expect((await call('GET', '/v1/deploys?role=web&env=production', undefined, { token: h1 })).body.deploys).toHaveLength(1);
    expect((await call('GET', '/v1/deploys?role=web&env=staging', undefined, { token: h1 })).status).toBe(403);
    expect((await call('GET', '/v1/deploys', undefined, { token: h1 })).status).toBe(403);
    // A host of the production environment with another role: not in web/production.
    const h9 = await coordinator.hostToken('h9');
    expect((await call('GET', `/v1/deploys/${production.id}`, undefined, { token: h9 })).status).toBe(403);
    expect((await call('GET', '/v1/releases/web', undefined, { token: h1 })).status).toBe(403);
  });

  it('asks a catch-up only for itself, and the catch-up names it as who started it', async () => {
    await coordinator.publish('web', 'v1');
    const rollout = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.succeedEverywhere(rollout);
    const token = await coordinator.hostToken('h1');
    const forged = await call('POST', '/v1/catch-ups', { role: 'web', env: 'production', host: 'h2', image: null }, { token });
    expect(forged.status).toBe(403);
    expect(forged.body.error.message).toBe('host h1 may ask a catch-up only for itself, not for h2');
    const own = await call('POST', '/v1/catch-ups', { role: 'web', env: 'production', host: 'h1', image: null }, { token });
    expect(own.status).toBe(201);
    expect(own.body.startedBy).toMatch(/^host h1 \(t-[a-f0-9]{8}\)$/);
  });
});

describe("a host's groups", () => {
  it('are read from the member list kept 5 s, read again after 1 s for a host not found in it (it may have just joined)', async () => {
    let now = 0;
    let reads = 0;
    const members = new ListedMembers(['h1']);
    const membership = { members: async () => (reads++, members.members()) };
    const access = new HostAccess({ store, membership, now: () => now });
    const h4: Credential = { id: 't-00000004', scope: 'host', host: 'h4', name: 'h4', createdAt: 0, createdBy: 'test' };
    const group = { role: 'web', env: 'production' };
    await expect(access.checkList(h4, group)).rejects.toThrow('host h4 may list only the deploys of its own group; it is not in web/production');
    members.add('production', ['h4']);
    now = 500;
    await expect(access.checkList(h4, group)).rejects.toThrow(/not in web\/production/);
    now = 1_500;
    await expect(access.checkList(h4, group)).resolves.toBeUndefined();
    const before = reads;
    now = 4_000;
    await access.checkList(h4, group);
    expect(reads).toBe(before);
  });
});

describe('viewer, deployer and operator', () => {
  it('a viewer reads but cannot deploy', async () => {
    await coordinator.publish('web', 'v1');
    const viewer = await coordinator.tokenOf('viewer', 'dashboard');
    expect((await call('GET', '/v1/releases/web', undefined, { token: viewer })).status).toBe(200);
    expect((await call('GET', '/v1/deploys', undefined, { token: viewer })).status).toBe(200);
    expect((await call('GET', '/v1/groups/web/production/out-of-service', undefined, { token: viewer })).status).toBe(200);
    const deploy = await call('POST', '/v1/deploys', { role: 'web', env: 'production' }, { token: viewer });
    expect(deploy.status).toBe(403);
    expect(deploy.body.error.message).toBe('POST /v1/deploys needs the deployer scope; this credential (viewer dashboard) is viewer');
    expect(coordinator.events.fired).toEqual([]);
  });

  it('a deployer publishes, deploys and rolls back, each deploy naming it; it cannot mark broken or manage tokens', async () => {
    const { credential, token } = await coordinator.credentials.create({ scope: 'deployer', name: 'ci-web', createdBy: 'test' });
    expect((await call('POST', '/v1/releases', { role: 'web', tag: 'v1' }, { token })).status).toBe(201);
    expect((await call('POST', '/v1/releases', { role: 'web', tag: 'v2' }, { token })).status).toBe(201);
    const first = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' }, { token });
    expect(first.body.startedBy).toBe(`deployer ci-web (${credential.id})`);
    await coordinator.succeedEverywhere(first.body);
    await coordinator.deploy('web', 'production', 'v2');
    const rollback = await call('POST', '/v1/rollbacks', { role: 'web', env: 'production' }, { token });
    expect(rollback.status).toBe(201);
    expect(rollback.body).toMatchObject({ tag: 'v1', rollbackOf: 'v2', startedBy: `deployer ci-web (${credential.id})` });

    const mark = await call('POST', '/v1/releases/web/v2/broken', { reason: 'slow' }, { token });
    expect(mark.status).toBe(403);
    expect(mark.body.error.message).toBe('POST /v1/releases/web/v2/broken needs the operator scope; this credential (deployer ci-web) is deployer');
    expect((await store.getRelease('web', 'v2'))?.broken).toBeUndefined();
    expect((await call('GET', '/v1/tokens', undefined, { token })).status).toBe(403);
    expect((await call('DELETE', '/v1/groups/web/production/out-of-service/h1', undefined, { token })).status).toBe(403);
  });

  it('the bootstrap token of the config is an operator named `operator bootstrap (config)`', async () => {
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production', 'v1');
    expect(deploy.startedBy).toBe('operator bootstrap (config)');
    const marked = await call('POST', '/v1/releases/web/v1/broken', { reason: 'logins fail' });
    expect(marked.body.broken.by).toBe('operator bootstrap (config)');
  });

  it('a promotion names the coordinator as who started it', async () => {
    const members = new ListedMembers(['h1']);
    coordinator = new CoordinatorHarness({ store, fleet: new RecordingFleet(), members, promote: { web: { from: 'staging', to: 'production' } } });
    await coordinator.publish('web', 'v1');
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    await coordinator.succeedEverywhere(staging);
    const promoted = await coordinator.getDeploy((await coordinator.getDeploy(staging.id)).promotedTo!);
    expect(promoted.startedBy).toBe('coordinator');
  });

  it('every /v1 route that changes anything refuses a viewer, and none answers a host of no group with a 2xx', async () => {
    const viewer = await coordinator.tokenOf('viewer');
    const stranger = await coordinator.hostToken('h0');
    const routes = coordinator.app.routes.filter((r) => r.path.startsWith('/v1/') && r.method !== 'ALL');
    expect(routes.length).toBeGreaterThanOrEqual(13);
    const fill = (path: string) =>
      path.replace(':id', 'd-abcdef123').replace(':role', 'web').replace(':env', 'production').replace(':tag', 'v1').replace(':host', 'h1');
    for (const { method, path } of routes) {
      const body = method === 'GET' || method === 'DELETE' ? undefined : { role: 'web', env: 'production', tag: 'v1', host: 'h0', reason: 'x', scope: 'viewer', state: 'waiting', steps: [], image: null };
      if (method !== 'GET') expect((await call(method, fill(path), body, { token: viewer })).status, `${method} ${path} as a viewer`).toBe(403);
      const asStranger = await call(method, fill(path), body, { token: stranger });
      expect(asStranger.status >= 200 && asStranger.status < 300, `${method} ${path} as a host of no group: ${asStranger.status}`).toBe(false);
    }
  });
});

describe('the token API', () => {
  it('creates a credential and shows its token once; lists without secrets; revokes it, after which it is refused with 401', async () => {
    const created = await call('POST', '/v1/tokens', { scope: 'deployer', name: 'ci-web' });
    expect(created.status).toBe(201);
    const { credential, token } = created.body;
    expect(token).toMatch(/^gv_/);
    expect(credential).toMatchObject({ scope: 'deployer', name: 'ci-web', createdBy: 'operator bootstrap (config)' });
    expect(credential.expiresAt).toBeUndefined();

    const listed = await call('GET', '/v1/tokens');
    expect(listed.body.credentials).toEqual([credential]);
    expect(JSON.stringify(listed.body)).not.toContain(token);
    expect((await call('GET', '/v1/deploys', undefined, { token })).status).toBe(200);

    expect(await call('DELETE', `/v1/tokens/${credential.id}`)).toEqual({ status: 200, body: { id: credential.id, revoked: true } });
    const refused = await call('GET', '/v1/deploys', undefined, { token });
    expect(refused).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'unknown, revoked or expired token' } } });
    expect((await call('DELETE', `/v1/tokens/${credential.id}`)).status).toBe(404);
  });

  it('expires a credential after its ttl', async () => {
    const created = await call('POST', '/v1/tokens', { scope: 'viewer', name: 'short', ttl: '30m' });
    expect(created.body.credential.expiresAt - created.body.credential.createdAt).toBeGreaterThanOrEqual(30 * 60_000 - 1000);
    expect((await call('GET', '/v1/deploys', undefined, { token: created.body.token })).status).toBe(200);
    coordinator.clock += 30 * 60_000;
    expect((await call('GET', '/v1/deploys', undefined, { token: created.body.token })).status).toBe(401);
    expect((await call('GET', '/v1/tokens')).body.credentials).toEqual([]);
  });

  it('names a host credential after its host, whose token acts only as that host', async () => {
    const created = await call('POST', '/v1/tokens', { scope: 'host', host: 'h2' });
    expect(created.body.credential).toMatchObject({ scope: 'host', host: 'h2', name: 'h2' });
  });

  it.each([
    [{ scope: 'host' }, /^invalid body: host is required for the host scope/],
    [{ scope: 'deployer', host: 'h1' }, /^invalid body: host is only for the host scope/],
    [{ scope: 'host', host: 'not a host!' }, /^invalid body: host must be 1-63 characters/],
    [{ scope: 'admin' }, /^invalid body: scope /],
    [{ scope: 'viewer', ttl: '10 years' }, /^invalid body: ttl must be a whole number and a unit/],
    [{ scope: 'viewer', ttl: '400d' }, /^ttl must be at most 366d/],
    [{ scope: 'viewer', name: 'has space' }, /^invalid body: name must be 1-64 characters/],
  ])('refuses %j with 400 naming the field', async (body, message) => {
    const answer = await call('POST', '/v1/tokens', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(message);
    expect((await call('GET', '/v1/tokens')).body.credentials).toEqual([]);
  });

  it('will not revoke the bootstrap credential, and says where it comes from', async () => {
    const answer = await call('DELETE', '/v1/tokens/config');
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(/coordinator config's token/);
  });
});
