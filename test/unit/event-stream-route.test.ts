// `GET /v1/events` on the coordinator's app over an in-memory store and event log: what a
// reader gets (server-sent events: id, kind, the event as JSON), its filters, resuming with
// Last-Event-ID, who may read it, the cap on open streams, the heartbeat, and the end of
// every stream when the coordinator stops. The same on a real Redis: test/integration/event-stream.test.ts.
import { Hono } from 'hono';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BOOTSTRAP_CREDENTIAL, type CoordinatorEnv } from '../../coordinator/auth/authenticate.js';
import { EventFeed } from '../../coordinator/events/event-feed.js';
import { registerEventRoutes } from '../../coordinator/events/event-routes.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, TOKEN } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';
import { InMemoryEventLog } from '../fixtures/in-memory-event-log.js';
import { SseReader, type SseMessage } from '../fixtures/sse-reader.js';

const silent = pino({ level: 'silent' });
let log: InMemoryEventLog;
let coordinator: CoordinatorHarness;
let readers: SseReader[] = [];

beforeEach(() => {
  log = new InMemoryEventLog();
  coordinator = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet: new RecordingFleet(), eventLog: { log, maxStreams: 3 } });
});
afterEach(async () => {
  await Promise.all(readers.map((reader) => reader.close()));
  readers = [];
  await coordinator.eventFeed?.stop();
});

async function open(query = '', { token = TOKEN as string | null, headers = {} as Record<string, string> } = {}): Promise<{ response: Response; reader: SseReader }> {
  const response = await coordinator.app.request(`/v1/events${query}`, {
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
  });
  const reader = new SseReader(response);
  readers.push(reader);
  return { response, reader };
}

/** Events reach the log through the bus after the request that made them returns. */
const settled = () => coordinator.fleetEvents.settled();
const kinds = (messages: SseMessage[]) => messages.map((message) => message.event);

describe('the event stream', () => {
  it('sends each event as id, kind and the event as JSON, in the order published', async () => {
    const { response, reader } = await open('', { token: await coordinator.tokenOf('viewer') });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(deploy.id, 'h1', 'deploying');
    await settled();

    const messages = await reader.take(3);
    expect(kinds(messages)).toEqual(['release.published', 'deploy.started', 'host.reported']);
    expect(messages.map((m) => JSON.parse(m.data) as FleetEvent)).toEqual(coordinator.published.slice(0, 3));
    expect(messages.map((m) => m.id)).toEqual(log.entries.slice(0, 3).map((entry) => entry.id));
    // A browser reconnects this soon after the stream ends.
    expect(reader.retry).toBe(2_000);
  });

  it('?deploy=ID: that deploy\'s events and its release\'s broken mark, nothing of another deploy', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.publish('web', 'v2');
    const followed = await coordinator.deploy('web', 'production', 'v1');
    const { reader } = await open(`?deploy=${followed.id}`);
    const other = await coordinator.deploy('web', 'staging', 'v2');
    await coordinator.report(other.id, 'h1s', 'deploying');
    await coordinator.report(followed.id, 'h1', 'deploying');
    await coordinator.call('POST', '/v1/releases/web/v2/broken', { reason: 'not this one' });
    await coordinator.call('POST', '/v1/releases/web/v1/broken', { reason: 'bad health' });
    await settled();

    const messages = await reader.take(2);
    expect(kinds(messages)).toEqual(['host.reported', 'release.broken']);
    expect(JSON.parse(messages[1]!.data)).toMatchObject({ role: 'web', tag: 'v1', reason: 'bad health' });
  });

  it('?role= and ?env=: the group\'s deploys, and the role\'s releases in any environment', async () => {
    const { reader } = await open('?role=web&env=staging');
    await coordinator.publish('web', 'v1');
    await coordinator.publish('api', 'v1');
    await coordinator.deploy('web', 'production', 'v1');
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    await settled();
    const messages = await reader.take(2);
    expect(kinds(messages)).toEqual(['release.published', 'deploy.started']);
    expect(JSON.parse(messages[1]!.data)).toMatchObject({ deploy: { id: staging.id } });
  });

  it('shows credential changes to operators only', async () => {
    const viewer = await open('', { token: await coordinator.tokenOf('viewer') });
    const operator = await open('');
    await coordinator.call('POST', '/v1/tokens', { scope: 'viewer', name: 'someone' });
    await coordinator.publish('web', 'v1');
    await settled();
    expect(kinds(await operator.reader.take(2))).toEqual(['token.created', 'release.published']);
    expect(kinds(await viewer.reader.take(1))).toEqual(['release.published']);
  });

  it('resumes after Last-Event-ID (or ?since=): the events after it, none twice, then new ones; the header wins', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.publish('web', 'v2');
    await coordinator.publish('web', 'v3');
    await settled();
    const [first, second] = log.entries;

    const resumed = await open(`?since=${first!.id}`, { headers: { 'last-event-id': second!.id } });
    await coordinator.publish('web', 'v4');
    await settled();
    const messages = await resumed.reader.take(2);
    expect(messages.map((m) => (JSON.parse(m.data) as { release: { tag: string } }).release.tag)).toEqual(['v3', 'v4']);

    const fromQuery = await open(`?since=${first!.id}`);
    expect((await fromQuery.reader.take(3)).map((m) => m.id)).toEqual(log.entries.slice(1, 4).map((e) => e.id));
  });

  it.each([
    ['?role=Web', 400, 'invalid query: role must be 1-32 characters of a-z, 0-9 and -, starting with a letter'],
    ['?deploy=12', 400, 'invalid query: deploy must look like d-<letters and digits>'],
    ['?since=yesterday', 400, 'since must be an event id such as 1700000000000-0 (the id: of an event received), or 0 for everything the stream holds; got "yesterday"'],
    ['?deploy=d-unknown1', 404, 'no deploy d-unknown1'],
  ])('refuses %s with %i naming what is wrong', async (query, status, message) => {
    const answer = await coordinator.call('GET', `/v1/events${query}`);
    expect(answer).toEqual({ status, body: { error: { code: expect.any(String), message } } });
  });

  it('refuses a bad Last-Event-ID header by name', async () => {
    const answer = await coordinator.call('GET', '/v1/events', undefined, { headers: { 'last-event-id': '12; DROP' } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toContain('the Last-Event-ID header must be an event id');
  });

  it('refuses a host credential (403) and a missing token (401)', async () => {
    const host = await coordinator.call('GET', '/v1/events', undefined, { token: await coordinator.hostToken('h1') });
    expect(host).toEqual({ status: 403, body: { error: { code: 'forbidden', message: 'GET /v1/events needs the viewer scope; this credential (host h1) is host' } } });
    expect((await coordinator.call('GET', '/v1/events', undefined, { token: null })).status).toBe(401);
  });

  it('takes the dashboard\'s sign-in cookie here, and nowhere else in /v1', async () => {
    const viewer = await coordinator.tokenOf('viewer');
    const cookie = { cookie: `gv_session=${encodeURIComponent(viewer)}` };
    const { response } = await open('', { token: null, headers: cookie });
    expect(response.status).toBe(200);
    expect((await coordinator.call('GET', '/v1/deploys', undefined, { token: null, headers: cookie })).status).toBe(401);
  });

  it('answers 503 past the cap of open streams, with Retry-After, and takes a new one once a stream closes', async () => {
    const opened = [await open(), await open(), await open()];
    const refused = await coordinator.app.request('/v1/events', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect(await refused.json()).toEqual({ error: { code: 'too_many_streams', message: 'the coordinator serves at most 3 event streams at once; close another one or try again later' } });

    await opened[0]!.reader.close();
    expect(coordinator.eventFeed?.open).toBe(2);
    expect((await open()).response.status).toBe(200);
  });

  it('ends every open stream when the coordinator stops', async () => {
    const { reader } = await open();
    await coordinator.eventFeed?.stop();
    expect(await reader.ends(2_000)).toBe(true);
  });
});

describe('a quiet event stream', () => {
  it('gets a comment at each heartbeat, so that proxies keep it open', async () => {
    const feed = new EventFeed({ log: new InMemoryEventLog(), logger: silent });
    const app = new Hono<CoordinatorEnv>();
    app.use('*', async (c, next) => {
      c.set('credential', BOOTSTRAP_CREDENTIAL);
      await next();
    });
    registerEventRoutes(app, { feed, store: new InMemoryDeployStore(), logger: silent, heartbeatMs: 50 });
    const reader = new SseReader(await app.request('/v1/events'));
    try {
      expect(await reader.comment(2_000)).toBe('keep-alive');
      expect(await reader.comment(2_000)).toBe('keep-alive');
    } finally {
      await reader.close();
      await feed.stop();
    }
  });
});
