// The relay's HTTP API (hono): a host credential drains, registers and reads the server named
// after its host in the local HAProxy, through the runtime socket only this process can open;
// the coordinator (an operator credential) sets a backend's weights and reads its traffic.
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import * as z from 'zod';
import { ForbiddenError, GrapevineError, NotFoundError, TimeoutError, UnauthorizedError, UnreachableError, ValidationError, errorMessage } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import { TIMED_OUT, within } from '../shared/contract/waiting.js';
import { bearerToken, jsonBodyLimit, requireJson, valid } from '../shared/http/request-validation.js';
import { LoadBalancerCommandError } from '../shared/haproxy/runtime-api.js';
import { RouteTable } from '../shared/contract/routing.js';
import { DrainBody, RegisterBody, TrafficQuery, WeightsBody, addressIp, lbName } from '../shared/haproxy/relay-contract.js';
import { UnknownClusterError } from '../shared/haproxy/route-acl.js';
import { actorOf, type Credential, type CredentialVerifier } from '../shared/ports/credentials.js';
import type { LoadBalancer } from '../shared/ports/load-balancer.js';
import type { TrafficControl } from '../shared/ports/traffic.js';
import { decideAccess, normalizeIp, type AccessPolicy, type RelayRequest } from './access.js';
import type { FrontendRouter } from './routing.js';
import type { TrafficStore } from './traffic-store.js';

/** What the relay asks of the local HAProxy: its servers, and their weights. */
export type LocalLoadBalancer = LoadBalancer & Pick<TrafficControl, 'setWeights' | 'weights'>;

export interface RelayAppDeps {
  verifier: CredentialVerifier;
  /** The local HAProxy, its drain bounded by `drainTimeoutMs`. */
  loadBalancer: (drainTimeoutMs: number) => LocalLoadBalancer;
  /** The access log's per-second counts; without it (no `accessLog` in the config) a traffic read answers 404. */
  traffic?: TrafficStore;
  policy: AccessPolicy;
  /** The routed frontends (`routing` in the config); without it their endpoints answer 404. */
  routing?: FrontendRouter;
  /** A drain asks for its own timeout (the agent's drainTimeoutMs); never longer than this. */
  maxDrainTimeoutMs: number;
  logger: Logger;
  /** Where a request came from; the socket's peer unless given (tests in-process). */
  sourceIp?: (c: Context) => string;
}

const MAX_BODY_BYTES = 4 * 1024;
/** A thousand servers' weights, each `"name-of-64-characters":256,`. */
const MAX_WEIGHTS_BODY_BYTES = 96 * 1024;
/** One exchange of up to a thousand commands. */
const WEIGHTS_DEADLINE_MS = 10_000;
/** Beyond a drain's own timeout: the commands before and after it, each bounded at 5 s. */
const DRAIN_MARGIN_MS = 15_000;
/** A register is at most four runtime commands of 5 s each. */
const REGISTER_DEADLINE_MS = 25_000;
const READ_DEADLINE_MS = 10_000;
/** 32 routes of about 150 bytes each, with room to spare. */
const MAX_ROUTES_BODY_BYTES = 16 * 1024;
/** Thousands of ACL entries in exchanges of 4 kB, each bounded at 5 s. */
const ROUTES_DEADLINE_MS = 30_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

const BackendParams = z.object({ backend: lbName });
const FrontendParams = z.object({ frontend: lbName });
const ServerParams = BackendParams.extend({ server: lbName });

type Env = { Variables: { credential: Credential; sourceIp: string } };

function statusOf(error: GrapevineError): ContentfulStatusCode {
  if (error instanceof ValidationError || error instanceof UnknownClusterError) return 400;
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof TimeoutError) return 504;
  // HAProxy not answering, or refusing a command it should take: the load balancer's fault, not the caller's.
  if (error instanceof UnreachableError || error instanceof LoadBalancerCommandError) return 502;
  return 500;
}

/** Runs one change or read of HAProxy, cut off with a TimeoutError (504) at `ms`. */
async function bounded<T>(what: string, work: Promise<T>, ms: number): Promise<T> {
  const outcome = await within(work, ms);
  if (outcome === TIMED_OUT) throw new TimeoutError(`${what} did not finish within ${ms} ms`);
  return outcome;
}

export function createRelayApp(deps: RelayAppDeps): Hono<Env> {
  const logger = deps.logger.child({ component: 'lb-relay-http' });
  const sourceOf = deps.sourceIp ?? ((c: Context) => getConnInfo(c).remote.address ?? '');
  const app = new Hono<Env>();

  app.onError((error, c) => {
    if (error instanceof GrapevineError) {
      const status = statusOf(error);
      if (status === 500) logger.error({ err: error, method: c.req.method, path: c.req.path }, 'request failed');
      if (status === 401) c.header('WWW-Authenticate', 'Bearer');
      return c.json({ error: { code: error.code, message: error.message } }, status);
    }
    if (error instanceof HTTPException && error.status < 500) {
      return c.json({ error: { code: error.status === 400 ? 'invalid_input' : 'http_error', message: error.message || 'bad request' } }, error.status);
    }
    logger.error({ err: error, method: c.req.method, path: c.req.path }, 'request failed unexpectedly');
    return c.json({ error: { code: 'internal', message: 'internal error; see the relay log' } }, 500);
  });

  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', (c) => c.json({ ok: true }));

  app.use('/v1/*', async (c, next) => {
    const sourceIp = normalizeIp(sourceOf(c));
    c.set('sourceIp', sourceIp);
    const token = bearerToken(c);
    const credential = token ? await verify(deps.verifier, token) : undefined;
    if (!credential) {
      logger.warn({ source: sourceIp, method: c.req.method, path: c.req.path }, 'refused a request without a valid credential');
      throw new UnauthorizedError('missing, unknown, revoked or expired token');
    }
    c.set('credential', credential);
    await next();
  });

  app.use('/v1/backends/:backend/servers/*', jsonBodyLimit(MAX_BODY_BYTES));
  app.use('/v1/backends/:backend/weights', jsonBodyLimit(MAX_WEIGHTS_BODY_BYTES));
  app.use('/v1/frontends/:frontend/routes', jsonBodyLimit(MAX_ROUTES_BODY_BYTES));
  app.use('/v1/backends/:backend/maintenance', jsonBodyLimit(MAX_BODY_BYTES));

  /** Refuses, and logs who asked for what, unless the credential may do it. */
  const authorize = (c: Context<Env>, request: Omit<RelayRequest, 'sourceIp'>): string => {
    const credential = c.get('credential');
    const actor = actorOf(credential);
    const decision = decideAccess(credential, { ...request, sourceIp: c.get('sourceIp') }, deps.policy);
    if (!decision.allowed) {
      logger.warn({ actor, source: c.get('sourceIp'), ...request, reason: decision.reason }, 'refused a load-balancer request');
      throw new ForbiddenError(decision.reason);
    }
    return actor;
  };

  app.get('/v1/backends/:backend/servers', valid('param', BackendParams), async (c) => {
    const { backend } = c.req.valid('param');
    authorize(c, { action: 'read', backend });
    const servers = await bounded(`reading ${backend}`, deps.loadBalancer(0).servers(backend), READ_DEADLINE_MS);
    return c.json({ servers });
  });

  app.post('/v1/backends/:backend/servers/:server/drain', valid('param', ServerParams), requireJson, valid('json', DrainBody), async (c) => {
    const { backend, server } = c.req.valid('param');
    const actor = authorize(c, { action: 'drain', backend, server });
    const timeoutMs = Math.min(c.req.valid('json').timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS, deps.maxDrainTimeoutMs);
    const log = logger.child({ actor, source: c.get('sourceIp') });
    const deadlineMs = timeoutMs + DRAIN_MARGIN_MS;
    const context = { signal: AbortSignal.timeout(deadlineMs), logger: log };
    await bounded(`draining ${backend}/${server}`, deps.loadBalancer(timeoutMs).drain(backend, server, context), deadlineMs);
    log.info({ backend, server, drainTimeoutMs: timeoutMs }, 'server drained through the relay');
    return c.json({ ok: true });
  });

  app.post('/v1/backends/:backend/servers/:server/register', valid('param', ServerParams), requireJson, valid('json', RegisterBody), async (c) => {
    const { backend, server } = c.req.valid('param');
    const { address, weight } = c.req.valid('json');
    const actor = authorize(c, { action: 'register', backend, server, addressIp: addressIp(address) ?? '' });
    const log = logger.child({ actor, source: c.get('sourceIp') });
    const context = { signal: AbortSignal.timeout(REGISTER_DEADLINE_MS), logger: log };
    const registered = deps.loadBalancer(0).register(backend, server, address, context, weight === undefined ? {} : { weight });
    await bounded(`registering ${backend}/${server}`, registered, REGISTER_DEADLINE_MS);
    log.info({ backend, server, address, weight }, 'server registered through the relay');
    return c.json({ ok: true });
  });

  app.get('/v1/backends/:backend/weights', valid('param', BackendParams), async (c) => {
    const { backend } = c.req.valid('param');
    authorize(c, { action: 'read-weights', backend });
    const servers = await bounded(`reading the weights of ${backend}`, deps.loadBalancer(0).weights(backend), READ_DEADLINE_MS);
    return c.json({ servers });
  });

  app.post('/v1/backends/:backend/weights', valid('param', BackendParams), requireJson, valid('json', WeightsBody), async (c) => {
    const { backend } = c.req.valid('param');
    const { weights } = c.req.valid('json');
    const actor = authorize(c, { action: 'set-weights', backend });
    const signal = AbortSignal.timeout(WEIGHTS_DEADLINE_MS);
    await bounded(`setting the weights of ${backend}`, deps.loadBalancer(0).setWeights(backend, weights, signal), WEIGHTS_DEADLINE_MS);
    logger.info({ actor, source: c.get('sourceIp'), backend, weights }, 'weights set through the relay');
    return c.json({ ok: true });
  });

  app.get('/v1/backends/:backend/traffic', valid('param', BackendParams), valid('query', TrafficQuery), (c) => {
    const { backend } = c.req.valid('param');
    const { from, to } = c.req.valid('query');
    authorize(c, { action: 'read-traffic', backend });
    const store = deps.traffic;
    if (!store) throw new NotFoundError('this relay receives no access log (accessLog is not set in its config), so it has no traffic figures');
    if (to - from > store.retainMs) throw new ValidationError(`to - from must be at most ${store.retainMs} ms, the traffic this relay keeps (accessLog.retainMs)`);
    return c.json({ servers: store.read(backend, from, to) });
  });

  const router = (): FrontendRouter => {
    if (!deps.routing) throw new NotFoundError('this relay routes no frontend (no routing in its config)');
    return deps.routing;
  };

  app.get('/v1/frontends/:frontend', valid('param', FrontendParams), async (c) => {
    authorize(c, { action: 'read-routes', backend: '' });
    return c.json(await router().frontend(c.req.valid('param').frontend));
  });

  app.put('/v1/frontends/:frontend/routes', valid('param', FrontendParams), requireJson, valid('json', RouteTable), async (c) => {
    const { frontend } = c.req.valid('param');
    const actor = authorize(c, { action: 'set-routes', backend: '' });
    await bounded(`applying the routes of ${frontend}`, router().setRoutes(frontend, c.req.valid('json'), actor), ROUTES_DEADLINE_MS);
    return c.json({ ok: true });
  });

  app.post('/v1/backends/:backend/maintenance', valid('param', BackendParams), async (c) => {
    const { backend } = c.req.valid('param');
    const actor = authorize(c, { action: 'maintenance', backend });
    const servers = await bounded(`putting ${backend} into maintenance`, router().maintenance(backend), READ_DEADLINE_MS);
    logger.info({ actor, source: c.get('sourceIp'), backend, servers: servers.map((s) => s.name) }, 'backend put into maintenance through the relay');
    return c.json({ servers });
  });

  return app;
}

/** A credential store that does not answer is the relay's dependency failing (502), not the caller's fault. */
async function verify(verifier: CredentialVerifier, token: string): Promise<Credential | undefined> {
  try {
    return await verifier.verify(token);
  } catch (error) {
    if (error instanceof GrapevineError) throw error;
    throw new UnreachableError(`the credential store did not answer: ${errorMessage(error)}`, { cause: error });
  }
}
