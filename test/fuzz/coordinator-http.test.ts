// Fuzzes the coordinator's HTTP layer in-process: 10 000 generated requests through
// app.request to createApp over the run's real Redis (its deploy store, fleet state and
// credential store), with Serf's member list, its event sender and the image registry as
// stand-ins. The requests carry each scope's credential, a host's, revoked, expired,
// unknown and mangled ones. Properties: nothing escapes app.fetch, no 5xx, every refusal
// is JSON {error: {code, message}}, a request without a live credential is refused 401,
// no credential succeeds outside its scope, and no refused request changes Redis (its
// dirty counter, which counts every write but no expiry, and this Redis never saves, so
// never resets) or fires a deploy event.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Scope } from '../../shared/ports/credentials.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { ListedMembers } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, TOKEN } from '../fixtures/coordinator-harness.js';
import { redisForThisFile } from '../fixtures/redis-server.js';
import { coordinatorRequests, ROUTES, type AuthChoice, type FuzzRequest, type Segment } from './coordinator-requests.js';
import { draw, fuzzSeed, Tally } from './fuzz-run.js';

const REQUESTS = 10_000;
const ROUTE_METHODS = new Map(ROUTES.map((route) => [route.name, route.method]));
const testRedis = redisForThisFile();
const logger = pino({ level: 'silent' });

/** Tokens the sender holds, by label; `unknown` has the shape of a real token but was never issued. */
const credentials = new Map<string, string>([
  ['bootstrap', TOKEN],
  ['unknown', `gv_${'Q'.repeat(43)}`],
]);
/** Labels whose token the coordinator must not take: never issued, revoked, expired. */
const DEAD = new Set(['unknown', 'revoked', 'expired']);

/** Who may succeed on each route, by label (the host labels name their host): the scopes of README, "Security". */
const ADMITS: Record<string, (label: string) => boolean> = {
  publish: (label) => ['bootstrap', 'deployer', 'operator'].includes(label),
  deploy: (label) => ['bootstrap', 'deployer', 'operator'].includes(label),
  rollback: (label) => ['bootstrap', 'deployer', 'operator'].includes(label),
  'mark-broken': (label) => ['bootstrap', 'operator'].includes(label),
  forget: (label) => ['bootstrap', 'operator'].includes(label),
  'create-token': (label) => ['bootstrap', 'operator'].includes(label),
  'list-tokens': (label) => ['bootstrap', 'operator'].includes(label),
  'revoke-token': (label) => ['bootstrap', 'operator'].includes(label),
  report: (label) => label.startsWith('host-'),
  'catch-up': (label) => label.startsWith('host-'),
};

/** What the run learned so far: ids the generators' `{deploy: n}` and `{token: n}` segments pick from. */
const known = { deploys: [] as string[], tokens: [] as string[] };

const pick = (list: string[], n: number, none: string) => (list.length === 0 ? none : list[n % list.length]!);

function segmentText(segment: Segment): string {
  if (typeof segment === 'string') return segment;
  if ('deploy' in segment) return pick(known.deploys, segment.deploy, 'd-none000');
  return pick(known.tokens, segment.token, 't-00000000');
}

function authorization(auth: AuthChoice): string | undefined {
  if (auth.kind === 'none') return undefined;
  if (auth.kind === 'raw') return auth.value;
  const token = credentials.get(auth.label)!;
  switch (auth.form) {
    case 'plain':
      return `Bearer ${token}`;
    case 'lowercase':
      return `bearer ${token}`;
    case 'spaced':
      return `Bearer    ${token}   `;
    case 'trailing-word':
      return `Bearer ${token} please`;
    case 'truncated':
      return `Bearer ${token.slice(0, -1)}`;
    case 'flipped':
      return `Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
  }
}

/** Whether the request carries no live credential: it must be refused 401 under /v1/. */
function forged(auth: AuthChoice): boolean {
  if (auth.kind === 'bearer') return DEAD.has(auth.label) || ['trailing-word', 'truncated', 'flipped'].includes(auth.form);
  return true;
}

/** Why a success is outside the credential's scope, or undefined when it is within it. */
function beyondScope(request: FuzzRequest, status: number): string | undefined {
  const admits = ADMITS[request.route];
  if (status >= 300 || request.auth.kind !== 'bearer' || admits === undefined) return undefined;
  // Another method reaches another route (or none): only the route's own method is judged here.
  if (request.method !== ROUTE_METHODS.get(request.route)) return undefined;
  const { label } = request.auth;
  if (!admits(label)) return `${label} succeeded at ${request.route}`;
  if (label.startsWith('host-') && typeof request.body === 'string') {
    const host = (JSON.parse(request.body) as { host?: unknown }).host;
    if (host !== label.slice('host-'.length)) return `${label} succeeded at ${request.route} for host ${JSON.stringify(host)}`;
  }
  return undefined;
}

function toRequest(request: FuzzRequest): { path: string; init: RequestInit } {
  const path = `/${request.segments.map(segmentText).join('/')}${request.query === '' ? '' : `?${request.query}`}`;
  const headers = new Headers(request.extraHeaders);
  const auth = authorization(request.auth);
  if (auth !== undefined) headers.set('authorization', auth);
  if (request.contentType !== undefined) headers.set('content-type', request.contentType);
  // The fetch API allows no body on GET or HEAD: no client could send one through it.
  const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : request.body;
  return { path, init: { method: request.method, headers, ...(body === undefined ? {} : { body: body as NonNullable<RequestInit['body']> }) } };
}

function describeRequest(request: FuzzRequest, path: string, status?: number, answer?: string): string {
  const body = request.body === undefined ? '' : typeof request.body === 'string' ? request.body.slice(0, 200) : `<${request.body.length} bytes>`;
  return `${request.method} ${path.slice(0, 200)} auth=${JSON.stringify(request.auth).slice(0, 80)} type=${request.contentType} body=${body}${status === undefined ? '' : ` → ${status} ${answer?.slice(0, 200)}`}`;
}

/** Redis's count of writes after the last request: nothing else writes between two requests, so it is the next one's count before. */
let writesSoFar: number | undefined;

async function dirtyCount(): Promise<number> {
  const info = await testRedis.client.info('persistence');
  const match = /rdb_changes_since_last_save:(\d+)/.exec(info);
  if (!match) throw new Error('INFO persistence has no rdb_changes_since_last_save');
  return Number(match[1]);
}

/** Sends one request and checks every property; returns the answer's status, or undefined when app.fetch threw. */
async function send(coordinator: CoordinatorHarness, request: FuzzRequest, tally: Tally): Promise<void> {
  const { path, init } = toRequest(request);
  const before = writesSoFar ?? (await dirtyCount());
  const firedBefore = coordinator.events.fired.length;
  let response: Response;
  let text: string;
  try {
    response = await coordinator.app.request(path, init);
    text = await response.text();
    // The fleet's event readers (the quarantine's rollback among them) run after the request:
    // what they write is the request's doing, so it is counted with it, not with the next one.
    await coordinator.fleetEvents.settled();
  } catch (error) {
    tally.violation('crashes', `${describeRequest(request, path)}: ${String(error)}`);
    writesSoFar = undefined;
    return;
  }
  const { status } = response;
  tally.add('requests sent');
  tally.add(`  ${Math.floor(status / 100)}xx`);
  writesSoFar = await dirtyCount();
  const writes = writesSoFar - before;
  const fired = coordinator.events.fired.length - firedBefore;
  const seen = () => describeRequest(request, path, status, text);

  if (status >= 500) tally.violation('5xx', seen());
  if (status >= 400) {
    tally.add(`    ${status} ${request.method === 'HEAD' ? '(HEAD: no body)' : refusalCode(text)}`);
    if (writes > 0 || fired > 0) tally.violation('state changes from refused requests', `${seen()} (${writes} Redis writes, ${fired} events)`);
    // A HEAD answer has no body by definition.
    if (request.method !== 'HEAD' && !isRefusal(text)) tally.violation('refusals not {error: {code, message}}', seen());
  } else {
    if (writes > 0 || fired > 0) tally.add('accepted requests that changed state');
    learn(text);
  }
  // As app.request builds the URL: the path appended to the origin, so a leading // stays a path.
  const pathname = new URL(`http://localhost${path}`).pathname;
  if (pathname.startsWith('/v1/') && forged(request.auth) && status !== 401) tally.violation('dead or mangled credentials not refused 401', seen());
  const beyond = beyondScope(request, status);
  if (beyond !== undefined) tally.violation('successes outside the credential\'s scope', `${beyond}: ${seen()}`);
}

function refusalCode(text: string): string {
  try {
    return String((JSON.parse(text) as { error?: { code?: unknown } }).error?.code);
  } catch {
    return '(no JSON)';
  }
}

function isRefusal(text: string): boolean {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    return typeof body.error?.code === 'string' && body.error.code !== '' && typeof body.error.message === 'string' && body.error.message !== '';
  } catch {
    return false;
  }
}

/** Deploy and credential ids from accepted answers, for later requests to name. */
function learn(text: string): void {
  try {
    const body = JSON.parse(text) as { id?: unknown; deploys?: Array<{ id?: unknown }>; credential?: { id?: unknown } };
    const credential = body.credential?.id;
    if (typeof credential === 'string' && !known.tokens.includes(credential)) known.tokens.push(credential);
    for (const id of [body.id, ...(body.deploys ?? []).map((deploy) => deploy.id)]) {
      if (typeof id === 'string' && id.startsWith('d-') && !known.deploys.includes(id)) known.deploys.push(id);
    }
  } catch {
    // 204 and the like: nothing to learn.
  }
}

/**
 * The coordinator over the test Redis, hosts h1-h3 in production and s1-s3 in staging, web
 * promoted from staging; its credential store on the harness's clock, as the app's is, and
 * a credential of each kind in `credentials`.
 */
async function fuzzedCoordinator(): Promise<CoordinatorHarness> {
  const redis = testRedis.client;
  const members = new ListedMembers();
  members.add('production', ['h1', 'h2', 'h3']);
  members.add('staging', ['s1', 's2', 's3']);
  let clock = () => Date.now();
  const store = new RedisCredentialStore({ redis, logger, now: () => clock() });
  const coordinator = new CoordinatorHarness({
    store: new RedisDeployStore({ redis, logger }),
    fleet: new RedisFleetState({ redis, logger, host: 'coordinator' }),
    credentials: store,
    members,
    promote: { web: { from: 'staging', to: 'production' } },
    logger,
  });
  clock = () => coordinator.clock;
  const make = async (label: string, scope: Scope, extra: { host?: string; expiresAt?: number } = {}) => {
    const created = await store.create({ scope, name: label, createdBy: 'fuzz', ...extra });
    credentials.set(label, created.token);
    return created.credential;
  };
  // What DELETE /v1/tokens/:id may revoke: spares (and those the run creates), never the credentials it sends with.
  for (let spare = 1; spare <= 5; spare++) known.tokens.push((await store.create({ scope: 'viewer', name: `spare-${spare}`, createdBy: 'fuzz' })).credential.id);
  for (const scope of ['viewer', 'deployer', 'operator'] as const) await make(scope, scope);
  for (const host of ['h1', 's1', 'h9']) await make(`host-${host}`, 'host', { host });
  await store.revoke((await make('revoked', 'deployer')).id);
  // Expired on the coordinator's clock at once; Redis drops its key later, which is no write.
  await make('expired', 'operator', { expiresAt: coordinator.clock + 1 });
  coordinator.clock += 1000;
  return coordinator;
}

describe('the coordinator under fuzzed requests', () => {
  it(`answers ${REQUESTS} generated requests with no crash, no 5xx, JSON refusals and no state change from any refusal`, { timeout: 120_000 }, async () => {
    const seed = fuzzSeed('coordinator HTTP fuzz');
    const redis = testRedis.client;
    await redis.flushdb();
    const coordinator = await fuzzedCoordinator();
    // Releases and a deploy to find, so fuzzed reports and lookups reach past the 404.
    for (const role of ['web', 'api']) for (const tag of ['v1', 'v2', 'v3', 'v4']) await coordinator.publish(role, tag);
    known.deploys.push((await coordinator.deploy('web', 'staging', 'v1')).id, (await coordinator.deploy('web', 'production', 'v1')).id);

    const tally = new Tally();
    const startedAt = Date.now();
    // Live credentials twice as often as dead ones, so more requests reach past authentication.
    const labels = [...credentials.keys()].flatMap((label) => (DEAD.has(label) ? [label] : [label, label]));
    const requests = [...draw(coordinatorRequests(labels), seed, REQUESTS)];
    const drawnAt = Date.now();
    for (const request of requests) await send(coordinator, request, tally);
    const refusals = [...tally.counts.keys()].filter((name) => /^ {4}4\d\d /.test(name)).sort();
    tally.print(`coordinator HTTP fuzz, seed ${seed}: drawn in ${drawnAt - startedAt} ms, sent in ${Date.now() - drawnAt} ms, ${known.deploys.length} deploys known`, [
      'requests sent',
      '  2xx',
      '  3xx',
      '  4xx',
      ...refusals,
      '  5xx',
      'crashes',
      '5xx',
      'state changes from refused requests',
      'refusals not {error: {code, message}}',
      'dead or mangled credentials not refused 401',
      "successes outside the credential's scope",
      'accepted requests that changed state',
    ]);

    expect(tally.get('requests sent') + tally.get('crashes')).toBe(REQUESTS);
    expect(tally.describe()).toBe('');
    expect(tally.get('  4xx')).toBeGreaterThan(0);
    expect(tally.get('accepted requests that changed state')).toBeGreaterThan(0);
  });
});
