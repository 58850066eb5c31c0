// fast-check generators of HTTP requests to the coordinator: its real routes with fuzzed
// params, unknown paths, query strings, authorization headers, content types and bodies
// from near-valid JSON to huge, deep, binary and empty. What depends on the run (tokens,
// ids of deploys created so far) is named here and filled in when the request is sent.
import fc from 'fast-check';
import { HOST_STATES, HOST_STEPS } from '../../shared/contract/schemas.js';

/** A credential the sender holds under this label, e.g. `bootstrap`, `viewer`, `host-h1`. */
export type AuthChoice =
  | { kind: 'none' }
  | { kind: 'bearer'; label: string; form: 'plain' | 'lowercase' | 'spaced' | 'trailing-word' | 'truncated' | 'flipped' }
  | { kind: 'raw'; value: string };

/** A path segment: literal text (already URL-encoded where it needs to be), or a deploy id known at send time. */
export type Segment = string | { deploy: number } | { token: number };

export interface FuzzRequest {
  /** The route the request was drawn from, or `unknown`: the counts are kept per route. */
  route: string;
  method: string;
  segments: Segment[];
  query: string;
  auth: AuthChoice;
  contentType: string | undefined;
  body: string | Uint8Array | undefined;
  extraHeaders: Record<string, string>;
}

const GOOD = {
  role: ['web', 'api'],
  env: ['production', 'staging'],
  tag: ['v1', 'v2', 'v3', 'v4', 'v5'],
  host: ['h1', 'h2', 'h3', 's1', 's2', 's3', 'h9'],
  scope: ['viewer', 'deployer', 'operator', 'host'],
} as const;

const printable = (maxLength: number) => fc.string({ unit: 'grapheme-ascii', maxLength });
/** Long text: a short random piece repeated, as drawing thousands of characters one by one is slow. */
const long = (piece: fc.Arbitrary<string>, min: number, max: number) =>
  fc.tuple(piece.filter((text) => text.length > 0), fc.integer({ min, max })).map(([text, length]) => text.repeat(Math.ceil(length / text.length)).slice(0, length));
const anyText = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength });

/** Text that is no name: unicode, shell metacharacters, traversal, percent-encoding gone wrong, overlong. */
const hostileText = fc.oneof(
  anyText(40),
  fc.constantFrom('', '.', '..', '../..', '$(id)', '`id`', ';rm -rf /', '%', '%zz', '%00', '%2F', '%2e%2e', '%E0%A4%A', '\u0000', 'web\nprod', 'Web', '-web', 'web_1', 'ωεβ', '🍇'),
  long(printable(16), 200, 3000),
);

/** One path segment: a plausible value most of the time, or fuzz, URL-encoded or sent raw. */
function segment(plausible: fc.Arbitrary<string>): fc.Arbitrary<Segment> {
  return fc.oneof(
    { weight: 6, arbitrary: plausible },
    { weight: 2, arbitrary: hostileText.map((text) => encodeURIComponent(text)) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%00', '%2F', '..', '.', '%252F', ';', '%0d%0a', '%E0%A4%A', '%F0%9F', '', '~') },
    { weight: 1, arbitrary: long(fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.~%'), maxLength: 16 }), 300, 5000) },
  );
}

const param = {
  role: segment(fc.oneof(fc.constantFrom(...GOOD.role), fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/))),
  env: segment(fc.constantFrom(...GOOD.env)),
  tag: segment(fc.oneof(fc.constantFrom(...GOOD.tag), fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/))),
  host: segment(fc.constantFrom(...GOOD.host)),
  deploy: fc.oneof({ weight: 6, arbitrary: fc.nat(1000).map((n): Segment => ({ deploy: n })) }, { weight: 2, arbitrary: segment(fc.stringMatching(/^d-[a-z0-9]{6,12}$/)) }),
  tokenId: fc.oneof({ weight: 4, arbitrary: fc.nat(100).map((n): Segment => ({ token: n })) }, { weight: 2, arbitrary: segment(fc.stringMatching(/^t-[a-f0-9]{8}$/)) }),
};

/** A field's good value most of the time, else a wrong type, an edge number or hostile text; sometimes left out. */
const OMIT = Symbol('omit');
function field<T>(good: fc.Arbitrary<T>, optional = true): fc.Arbitrary<T | unknown> {
  return fc.oneof(
    { weight: 24, arbitrary: good },
    { weight: 3, arbitrary: fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostileText, fc.constantFrom(-1, 0, 0.5, 1e308, -1e308, 2 ** 53, null, true, [], {})) },
    { weight: optional ? 3 : 1, arbitrary: fc.constant(OMIT) },
  );
}

function object(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const extra = fc.option(fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'actor', 'by', 'v', 'x', 'id', 'image'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }), { freq: 5 });
  return fc.tuple(fc.record(fields), extra).map(([record, more]) => {
    const body: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(record)) if (value !== OMIT) body[name] = value;
    // Own keys, __proto__ included, as JSON.parse would make them.
    for (const [name, value] of Object.entries(more ?? {})) Object.defineProperty(body, name, { value, enumerable: true, writable: true, configurable: true });
    return body;
  });
}

const role = field(fc.constantFrom(...GOOD.role));
const env = field(fc.constantFrom(...GOOD.env));
const tag = field(fc.constantFrom(...GOOD.tag));
const host = field(fc.constantFrom(...GOOD.host));
const image = field(fc.constantFrom('127.0.0.1:5000/web:v1', '127.0.0.1:5000/web:v2', 'elsewhere.example:5000/web:v1', `127.0.0.1:5000/web@sha256:${'a'.repeat(64)}`));
const step = fc.record({ step: fc.constantFrom(...HOST_STEPS), at: fc.integer({ min: 0, max: 2e12 }) });

/** Bodies near each route's schema (shared/contract/schemas.ts), field by field good or bad. */
const nearValid: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  release: object({ role, tag, image }),
  broken: object({ reason: field(printable(60), false), by: field(printable(30)) }),
  deploy: object({ role, env, tag }),
  rollback: object({ role, env, runJob: field(fc.boolean()) }),
  catchUp: object({ role, env, host, image: field(fc.oneof(fc.constant(null), fc.constant('127.0.0.1:5000/web:v1'))) }),
  report: object({
    host,
    state: field(fc.constantFrom(...HOST_STATES), false),
    steps: field(fc.array(step, { maxLength: 14 }), false),
    slot: field(fc.integer({ min: 1, max: 3 })),
    epoch: field(fc.integer({ min: 1, max: 50 })),
    counted: field(fc.integer({ min: 0, max: 6 })),
    remaining: field(fc.integer({ min: -1, max: 6 })),
    error: field(printable(80)),
    endedAt: field(fc.integer({ min: 0, max: 2e12 })),
  }),
  token: object({
    scope: field(fc.constantFrom(...GOOD.scope), false),
    host,
    name: field(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), false),
    ttl: field(fc.constantFrom('1h', '30d', '0s', '-1h', '999999999d', 'soon')),
  }),
};

/** Deeply nested JSON (arrays or objects), as text: building it as a value would overflow JSON.stringify first. */
const deep = fc.tuple(fc.integer({ min: 500, max: 30_000 }), fc.boolean()).map(([depth, arrays]) =>
  arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
);

function bodyFor(kind: string | undefined): fc.Arbitrary<string | Uint8Array | undefined> {
  const shaped = kind === undefined ? fc.jsonValue({ maxDepth: 3 }) : nearValid[kind]!;
  return fc.oneof(
    { weight: 24, arbitrary: shaped.map((value) => JSON.stringify(value)) },
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
    { weight: 2, arbitrary: shaped.map((value) => JSON.stringify(value)).chain((text) => fc.nat(text.length).map((cut) => text.slice(0, cut))) },
    { weight: 2, arbitrary: anyText(200) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 2, arbitrary: fc.constantFrom('', 'null', '[]', '{}', '"x"', '1e999', '{"role":"web"', '\u0000', '{"a":1,"a":2}') },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: fc.integer({ min: 65_000, max: 150_000 }).map((size) => JSON.stringify({ role: 'web', env: 'production', reason: 'x'.repeat(size) })) },
    { weight: 2, arbitrary: fc.constant(undefined) },
  );
}

/** A field's value as query text: a generated object may carry keys (`toString`, `valueOf`) that make String() throw. */
const queryText = (value: unknown) => encodeURIComponent(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value));

const query = {
  none: fc.constant(''),
  deploys: fc
    .record({ role: field(fc.constantFrom('web', 'api', '')), env: field(fc.constantFrom('production', 'staging', '')), limit: field(fc.constantFrom('1', '20', '200', '201', '0', '-1', 'abc', '1e3', '')) })
    .map((record) => Object.entries(record).filter(([, value]) => value !== OMIT).map(([name, value]) => `${name}=${queryText(value)}`).join('&')),
  forget: fc
    .record({ force: field(fc.constantFrom('true', 'false', 'yes', '')), by: field(printable(20)), reason: field(printable(40)) })
    .map((record) => Object.entries(record).filter(([, value]) => value !== OMIT).map(([name, value]) => `${name}=${queryText(value)}`).join('&')),
};

/** Any query string: pairs of fuzzed names and values, repeated keys, broken percent-encoding, overlong. */
const anyQuery = fc.oneof(
  fc.array(fc.tuple(hostileText, hostileText), { maxLength: 4 }).map((pairs) => pairs.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&')),
  fc.constantFrom('%zz', '&&&', '=', '==&=', 'limit=1&limit=2', 'role[]=web', 'role=%E0%A4%A', 'a=%00', '?'),
  long(fc.string({ unit: fc.constantFrom(...'abc=&%20'), maxLength: 16 }), 2000, 10_000),
);

interface Route {
  name: string;
  method: string;
  path: Array<string | fc.Arbitrary<Segment>>;
  body?: string;
  query?: fc.Arbitrary<string>;
}

export const ROUTES: Route[] = [
  { name: 'healthz', method: 'GET', path: ['healthz'] },
  { name: 'publish', method: 'POST', path: ['v1', 'releases'], body: 'release' },
  { name: 'list-releases', method: 'GET', path: ['v1', 'releases', param.role] },
  { name: 'mark-broken', method: 'POST', path: ['v1', 'releases', param.role, param.tag, 'broken'], body: 'broken' },
  { name: 'deploy', method: 'POST', path: ['v1', 'deploys'], body: 'deploy' },
  { name: 'rollback', method: 'POST', path: ['v1', 'rollbacks'], body: 'rollback' },
  { name: 'catch-up', method: 'POST', path: ['v1', 'catch-ups'], body: 'catchUp' },
  { name: 'list-deploys', method: 'GET', path: ['v1', 'deploys'], query: query.deploys },
  { name: 'get-deploy', method: 'GET', path: ['v1', 'deploys', param.deploy] },
  { name: 'report', method: 'POST', path: ['v1', 'deploys', param.deploy, 'reports'], body: 'report' },
  { name: 'out-of-service', method: 'GET', path: ['v1', 'groups', param.role, param.env, 'out-of-service'] },
  { name: 'forget', method: 'DELETE', path: ['v1', 'groups', param.role, param.env, 'out-of-service', param.host], query: query.forget },
  { name: 'create-token', method: 'POST', path: ['v1', 'tokens'], body: 'token' },
  { name: 'list-tokens', method: 'GET', path: ['v1', 'tokens'] },
  { name: 'revoke-token', method: 'DELETE', path: ['v1', 'tokens', param.tokenId] },
];

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PURGE'];

const routePath = (route: Route): fc.Arbitrary<Segment[]> =>
  fc.tuple(...route.path.map((part) => (typeof part === 'string' ? fc.constant<Segment>(part) : part)));

const unknownPath = fc.tuple(fc.boolean(), fc.array(segment(fc.constantFrom('v1', 'v2', 'releases', 'deploys', 'admin', 'tokens', 'groups')), { minLength: 0, maxLength: 6 }))
  .map(([underV1, parts]): Segment[] => (underV1 ? ['v1', ...parts] : parts));

/** Authorization as the sender holds it, mangled, or other schemes and garbage. */
function authChoice(labels: readonly string[]): fc.Arbitrary<AuthChoice> {
  return fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...labels).map((label): AuthChoice => ({ kind: 'bearer', label, form: 'plain' })) },
    { weight: 2, arbitrary: fc.record({ label: fc.constantFrom(...labels), form: fc.constantFrom('lowercase', 'spaced', 'trailing-word', 'truncated', 'flipped') }).map((choice): AuthChoice => ({ kind: 'bearer', ...choice })) },
    { weight: 2, arbitrary: fc.constant<AuthChoice>({ kind: 'none' }) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.constantFrom('', 'Bearer', 'Bearer ', 'Bearer  ', 'Basic dXNlcjpwYXNz', 'Token abc', 'Bearer gv_', `Bearer gv_${'A'.repeat(43)}`, 'Bearer null', 'Bearer undefined'),
          printable(80).map((text) => `Bearer ${text}`),
          printable(120),
          long(printable(16), 4000, 9000).map((text) => `Bearer ${text}`),
        )
        // A header value cannot hold CR, LF or NUL: the fetch API refuses it before any server would see it.
        .map((value): AuthChoice => ({ kind: 'raw', value: value.replace(/[\r\n\0]/g, ' ') })),
    },
  );
}

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(undefined, 'application/json; charset=utf-8', 'Application/JSON', 'application/json;', ' application/json ', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/*', ''),
  },
  { weight: 1, arbitrary: printable(60).map((text) => text.replace(/[\r\n\0]/g, ' ')) },
);

const extraHeaders = fc.option(
  fc.dictionary(fc.constantFrom('x-forwarded-for', 'x-real-ip', 'accept', 'x-grapevine-actor', 'cookie', 'origin'), printable(100).map((text) => text.trim()), { maxKeys: 3 }),
  { freq: 4, nil: {} },
);

/** Requests, about nine in ten to a real route; `labels` are the credentials the sender holds. */
export function coordinatorRequests(labels: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const toRoute = fc.constantFrom(...ROUTES).chain((route) =>
    fc.record({
      route: fc.constant(route.name),
      method: fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
      segments: routePath(route),
      query: fc.oneof({ weight: 6, arbitrary: route.query ?? query.none }, { weight: 1, arbitrary: anyQuery }),
      auth: authChoice(labels),
      contentType,
      body: bodyFor(route.body),
      extraHeaders,
    }),
  );
  const elsewhere = fc.record({
    route: fc.constant('unknown'),
    method: fc.constantFrom(...METHODS),
    segments: unknownPath,
    query: fc.oneof(query.none, anyQuery),
    auth: authChoice(labels),
    contentType,
    body: bodyFor(undefined),
    extraHeaders,
  });
  return fc.oneof({ weight: 9, arbitrary: toRoute }, { weight: 1, arbitrary: elsewhere });
}
