// The coordinator's HTTP API on an in-memory store: authentication, input checking, the
// body limit, releases, and what a caller sees when the store fails. No Redis, no server.
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { GrapevineError, UnreachableError } from '../../shared/contract/errors.js';
import type { Release } from '../../shared/contract/schemas.js';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, REGISTRY } from '../fixtures/coordinator-harness.js';
import { pinnedImage } from '../fixtures/fake-image-registry.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

let store: InMemoryDeployStore;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  coordinator = new CoordinatorHarness({ store, fleet: new RecordingFleet() });
});

const call = (...args: Parameters<CoordinatorHarness['call']>) => coordinator.call(...args);

describe('authentication', () => {
  it('answers /healthz without a token, and 503 naming Redis when the store does not answer', async () => {
    expect(await call('GET', '/healthz', undefined, { token: null })).toEqual({ status: 200, body: { ok: true } });
    store.unreachable();
    const down = await call('GET', '/healthz', undefined, { token: null });
    expect(down.status).toBe(503);
    expect(down.body).toEqual({ ok: false, error: { code: 'unreachable', message: "the coordinator's redis does not answer" } });
  });

  it.each([
    ['no header', null],
    ['a wrong token', 'not-the-token'],
    ['an empty token', ''],
    ['the token with a suffix', 'test-token-0123456789x'],
  ])('refuses /v1 with %s: 401 with a Bearer challenge, nothing stored', async (_, token) => {
    const answer = await coordinator.app.request('/v1/releases', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ role: 'web', tag: 'v1' }),
    });
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    const message = token ? 'unknown, revoked or expired token' : 'missing or wrong token';
    expect(await answer.json()).toEqual({ error: { code: 'unauthorized', message } });
    expect(await store.listReleases('web')).toEqual([]);
  });

  it('takes a Basic scheme as no token', async () => {
    const answer = await call('GET', '/v1/releases/web', undefined, { token: null, headers: { authorization: 'Basic dGVzdA==' } });
    expect(answer.status).toBe(401);
  });
});

describe('bad input gets a 400 naming what is wrong, never a 500', () => {
  it.each([
    ['POST', '/v1/releases', { role: 'Web!', tag: 'v1' }, /^invalid body: role /],
    ['POST', '/v1/releases', { role: 'web' }, /^invalid body: tag /],
    ['POST', '/v1/releases', { role: 'web', tag: 'v1', image: 'no spaces allowed' }, /^invalid body: image /],
    ['POST', '/v1/deploys', { role: 'web', env: 'prod', tag: 'bad tag' }, /^invalid body: tag /],
    ['POST', '/v1/deploys', { role: 'web' }, /^invalid body: env /],
    ['POST', '/v1/rollbacks', { role: 'web' }, /^invalid body: env /],
    ['POST', '/v1/releases/web/v1/broken', { reason: '' }, /^invalid body: reason /],
    ['POST', '/v1/releases/web/v1/broken', {}, /^invalid body: reason /],
    ['POST', '/v1/deploys/d-abcdef123/reports', { host: 'h1', state: 'sleeping', steps: [] }, /^invalid body: state /],
    ['POST', '/v1/deploys/d-abcdef123/reports', { host: 'h1', state: 'waiting' }, /^invalid body: steps /],
    ['POST', '/v1/deploys/nope/reports', { host: 'h1', state: 'waiting', steps: [] }, /^invalid path: id /],
    ['POST', '/v1/releases/Web!/v1/broken', { reason: 'x' }, /^invalid path: role /],
    ['GET', '/v1/releases/Web!', undefined, /^invalid path: role /],
    ['GET', '/v1/deploys/nope', undefined, /^invalid path: id /],
    ['GET', '/v1/deploys?limit=500', undefined, /^invalid query: limit /],
    ['GET', '/v1/deploys?limit=zero', undefined, /^invalid query: limit /],
    ['GET', '/v1/deploys?env=Prod!', undefined, /^invalid query: env /],
    ['GET', '/v1/deploys?role=a%20b', undefined, /^invalid query: role /],
  ])('%s %s %j', async (method, path, body, message) => {
    const answer = await call(method, path, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_input');
    expect(answer.body.error.message).toMatch(message);
  });

  it('refuses a body that is not JSON, or not sent as JSON', async () => {
    const malformed = await call('POST', '/v1/releases', undefined, { raw: '{"role": "web", ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('invalid_input');

    const plain = await call('POST', '/v1/releases', undefined, { raw: 'role=web', headers: { 'content-type': 'text/plain' } });
    expect(plain.status).toBe(400);
    expect(plain.body.error.message).toContain('Content-Type: application/json');

    const none = await call('POST', '/v1/deploys');
    expect(none.status).toBe(400);
    expect(none.body.error.message).toContain('JSON');

    const array = await call('POST', '/v1/releases', ['web', 'v1']);
    expect(array.status).toBe(400);
    expect(await store.listReleases('web')).toEqual([]);
  });

  it('answers 413 to a body over 64 KiB, before reading it as JSON', async () => {
    const answer = await call('POST', '/v1/releases/web/v1/broken', { reason: 'x'.repeat(70 * 1024) });
    expect(answer.status).toBe(413);
    expect(answer.body.error).toEqual({ code: 'too_large', message: 'request body is over 65536 bytes' });
  });

  it('answers 404 naming the route for a path it does not serve', async () => {
    const answer = await call('GET', '/v1/nothing-here');
    expect(answer).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'no route GET /v1/nothing-here' } } });
    expect((await call('DELETE', '/v1/releases/web')).status).toBe(404);
  });
});

describe('releases', () => {
  it('publishes with the registry image by default, lists newest first, republishes idempotently and refuses another image', async () => {
    const v1 = await coordinator.publish('web', 'v1');
    expect(v1).toEqual({
      role: 'web',
      tag: 'v1',
      image: pinnedImage(`${REGISTRY}/web:v1`),
      publishedImage: `${REGISTRY}/web:v1`,
      digest: expect.stringMatching(/^sha256:[a-f0-9]{64}$/),
      publishedAt: expect.any(Number),
    });
    await coordinator.publish('web', 'v2', 'registry.internal:5000/web:v2');

    expect(await call('POST', '/v1/releases', { role: 'web', tag: 'v1' })).toEqual({ status: 200, body: v1 });
    expect(await call('POST', '/v1/releases', { role: 'web', tag: 'v1', image: `${REGISTRY}/web:v1` })).toEqual({ status: 200, body: v1 });

    const clash = await call('POST', '/v1/releases', { role: 'web', tag: 'v1', image: `${REGISTRY}/other:v1` });
    expect(clash.status).toBe(409);
    expect(clash.body.error.code).toBe('release_exists');
    expect(clash.body.error.message).toContain(`${REGISTRY}/web:v1`);

    const list = await call('GET', '/v1/releases/web');
    expect(list.body.releases.map((r: Release) => [r.tag, r.image])).toEqual([
      ['v2', pinnedImage('registry.internal:5000/web:v2')],
      ['v1', pinnedImage(`${REGISTRY}/web:v1`)],
    ]);
    expect(await call('GET', '/v1/releases/api')).toEqual({ status: 200, body: { releases: [] } });
  });

  it('answers 404 release_not_found when marking an unknown release broken, and marks nothing', async () => {
    const fleet = coordinator.fleet as RecordingFleet;
    await coordinator.publish('web', 'v1');
    await coordinator.deploy('web', 'production', 'v1');
    const answer = await call('POST', '/v1/releases/web/v9/broken', { reason: 'no such thing' });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('release_not_found');
    expect(fleet.markCalls).toEqual([]);
  });

  it('keeps the first broken mark when a release is marked twice', async () => {
    await coordinator.publish('web', 'v1');
    const first = await call('POST', '/v1/releases/web/v1/broken', { reason: 'logins fail' });
    expect(first.body.broken).toEqual({ reason: 'logins fail', by: 'operator bootstrap (config)', at: expect.any(Number) });
    const second = await call('POST', '/v1/releases/web/v1/broken', { reason: 'slow' });
    expect(second.status).toBe(200);
    expect(second.body.broken).toEqual(first.body.broken);
  });
});

describe('a store that fails', () => {
  it('answers 502 with the store’s own message when it does not answer, on every route', async () => {
    await coordinator.publish('web', 'v1');
    store.unreachable('reading releases: Redis did not answer (connect ECONNREFUSED)');
    for (const [method, path, body] of [
      ['GET', '/v1/releases/web'],
      ['POST', '/v1/releases', { role: 'web', tag: 'v2' }],
      ['POST', '/v1/deploys', { role: 'web', env: 'production' }],
      ['GET', '/v1/deploys'],
      ['GET', '/v1/deploys/d-abcdef123'],
      ['POST', '/v1/deploys/d-abcdef123/reports', coordinator.hostReport('h1', 'waiting')],
      ['POST', '/v1/rollbacks', { role: 'web', env: 'production' }],
      ['POST', '/v1/releases/web/v1/broken', { reason: 'x' }],
    ] as const) {
      const answer = await call(method, path, body);
      expect(answer.status, `${method} ${path}`).toBe(502);
      expect(answer.body.error).toEqual({ code: 'unreachable', message: 'reading releases: Redis did not answer (connect ECONNREFUSED)' });
    }
    expect(coordinator.events.fired).toEqual([]);
  });

  it('answers 503 with the store’s message when Redis refuses a command, so callers try again', async () => {
    store.failures.set('getDeploy', new GrapevineError('redis_error', 'reading deploy d-abcdef123: LOADING Redis is loading the dataset in memory'));
    const answer = await call('GET', '/v1/deploys/d-abcdef123');
    expect(answer).toEqual({
      status: 503,
      body: { error: { code: 'redis_error', message: 'reading deploy d-abcdef123: LOADING Redis is loading the dataset in memory' } },
    });
  });

  it('answers 500 with the store’s message when it answers with a fault, and the generic message for anything else', async () => {
    store.failures.set('listReleases', new GrapevineError('store_corrupt', 'release web:v1 in Redis is not JSON'));
    const corrupt = await call('GET', '/v1/releases/web');
    expect(corrupt).toEqual({ status: 500, body: { error: { code: 'store_corrupt', message: 'release web:v1 in Redis is not JSON' } } });

    store.failures.set('listSummaries', new TypeError('cannot read properties of undefined'));
    const odd = await call('GET', '/v1/deploys');
    expect(odd).toEqual({ status: 500, body: { error: { code: 'internal', message: 'internal error; see the coordinator log' } } });
  });

  it('answers 502 and keeps the report when the release cannot be marked broken, so the agent resends it', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    store.failures.set('markReleaseBroken', new UnreachableError('marking the release broken: Redis did not answer'));
    const failed = coordinator.hostReport('h1', 'failed', { counted: 3, remaining: 2, error: 'health: exited (1)' });
    expect((await call('POST', `/v1/deploys/${id}/reports`, failed)).status).toBe(502);
    expect((await store.getDeploy(id))?.hosts.h1?.state).toBe('failed');

    store.failures.clear();
    expect(await call('POST', `/v1/deploys/${id}/reports`, failed)).toEqual({ status: 200, body: { status: 'in_progress' } });
    expect((await store.getRelease('web', 'v1'))?.broken).toMatchObject({ by: 'h1' });
  });
});

it('logs nothing at error level for bad input', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  coordinator = new CoordinatorHarness({ store, fleet: new RecordingFleet(), logger });
  await call('POST', '/v1/releases', { role: 'Web!', tag: 'v1' });
  await call('GET', '/v1/deploys?limit=0');
  await call('POST', '/v1/releases', undefined, { raw: '{' });
  expect(lines.filter((line) => JSON.parse(line).level >= 50)).toEqual([]);
});
