// The coordinator's HTTP API: releases, deploys, the per-host reports agents send, and the hosts each group counts out of service.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from '../shared/contract/logger.js';
import * as z from 'zod';
import { GrapevineError, NotFoundError } from '../shared/contract/errors.js';
import { statusOf } from './error-status.js';
import { deployId, envName, nodeName, releaseTag, roleName } from '../shared/contract/names.js';
import {
  CatchUpBody,
  CreateDeployBody,
  HostReport,
  MarkBrokenBody,
  PublishReleaseBody,
  RollbackBody,
} from '../shared/contract/schemas.js';
import { DEFAULT_DEADLINE_MS, DeployStarter, newDeployId, type DeployCreationDeps } from './deploy-starter.js';
import { CatchUps } from './catch-up.js';
import { DEFAULT_SLOTS } from '../shared/contract/slot-count.js';
import { markBroken } from './mark-broken.js';
import type { FleetControl } from '../shared/ports/fleet-state.js';
import type { DeployEvents, Membership } from '../shared/ports/membership.js';
import { Promoter, type PromotionStep } from './promotion.js';
import { chooseRollback } from './rollback.js';
import { ReportRecorder } from './report-recorder.js';
import { OutOfServiceHosts } from './out-of-service.js';
import type { ReleasePublisher } from './release-publisher.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';
import { actorOf, type Credential, type CredentialStore } from '../shared/ports/credentials.js';
import { allow, authenticate, type CoordinatorEnv } from './auth/authenticate.js';
import { HostAccess } from './auth/host-access.js';
import { registerTokenRoutes } from './auth/token-routes.js';
import { registerSerfKeyRoutes } from './serf-keys.js';
import type { SerfKeyring } from '../shared/ports/serf-keyring.js';
import { jsonBodyLimit, requireJson, valid } from '../shared/http/request-validation.js';
import { FleetEventBus } from './fleet-event-bus.js';
import type { EventFeed } from './events/event-feed.js';
import { registerEventRoutes } from './events/event-routes.js';
import { registerUiRoutes } from './ui/ui-routes.js';
import { eventStreamSessionToken } from './ui/session.js';
import { registerMetricsRoute, type MetricsExposition } from './metrics/metrics-route.js';
import { registerAuditRoutes } from './audit/audit-routes.js';
import { registerFreezeRoutes } from './freeze-routes.js';
import { registerDeployReadRoutes } from './deploy-read-routes.js';
import type { AuditLog } from '../shared/ports/audit-log.js';
import { strategyPlanner, type AppStrategies } from './strategies/strategy-planner.js';
import { Quarantine } from './strategies/quarantine.js';
import { registerStrategyRoutes } from './strategies/strategy-routes.js';
import { registerRouting, type AppRouting } from './routing/app-routing.js';
import type { FlagStore } from '../shared/ports/flag-store.js';
import { registerFlagApi } from './flags/flag-api.js';
import type { CreateOnce } from './create-once.js';
import { CoordinatorGroupLocks, type GroupLocks } from './leadership/group-lock.js';

export interface AppDeps {
  store: DeployStore;
  events: DeployEvents;
  /** Which hosts exist: a new deploy's targets are the alive hosts of its role and environment. */
  membership: Membership;
  /** The agents' shared state, where a broken mark stops rollouts at once. */
  fleet: FleetControl;
  /** Per role, the environment whose successful deploy is deployed on to the next one. */
  promote?: Record<string, PromotionStep>;
  /** How many of a deploy's targets may deploy at once; a third unless given. */
  slots?: number | string;
  /** How long a deploy may run before it is ended; stored on each deploy as deadlineAt (30 min unless given). */
  deployDeadlineMs?: number;
  /** The config's token: the bootstrap operator credential. */
  token: string;
  /** Every other credential: what a request's bearer token stands for, and the token API's store. */
  credentials: CredentialStore;
  /** Publishes releases: only images of allowed registries, each pinned to its digest. */
  publisher: ReleasePublisher;
  /** The fleet's Serf keyring through the coordinator's own agent; no keyring routes without it. */
  keyring?: SerfKeyring;
  logger: Logger;
  now?: () => number;
  newId?: () => string;
  /** Told of every change the API makes or is told of (the event stream, audit, notifications, metrics read it); none unless given. */
  fleetEvents?: FleetEventBus;
  /** The live event stream `GET /v1/events` serves, and the dashboard's pages follow; neither without it. */
  eventFeed?: EventFeed;
  /** What `GET /metrics` serves to a viewer or above (coordinator/metrics/); no such route without it. */
  metrics?: MetricsExposition;
  /** The fleet's audit log, which `GET /v1/audit` reads; no such route without it. */
  auditLog?: AuditLog;
  /** Canary and blue/green (coordinator/strategies/); every deploy is rolling without it. */
  strategies?: AppStrategies;
  /** How long the quarantine leaves to an operator's own rollback (coordinator/strategies/quarantine.ts); a minute unless given. */
  quarantineGraceMs?: number;
  /** Red-white routing's store and relay (coordinator/routing/); no routes API without it. */
  routing?: AppRouting;
  /** Feature flags: their API under /v1/flags and OFREP under /envs/:env (coordinator/flags/); neither without it. */
  flags?: FlagStore;
  /** With two coordinators: this one's name and whether it leads, in GET /healthz (coordinator/leadership/). */
  leadership?: () => { name: string; leader: boolean; epoch?: number; leaderName?: string };
  /** Deploys (POST /v1/deploys) created once per client idempotency key, on whichever coordinator (coordinator/create-once.ts); every call creates without it. */
  createOnce?: CreateOnce;
  /** Each group's lock, shared with the other coordinator through Redis (coordinator/leadership/group-lock.ts); this process's alone unless given. */
  groupLocks?: GroupLocks;
}

const RoleParams = z.object({ role: roleName });
const ReleaseParams = z.object({ role: roleName, tag: releaseTag });
const DeployParams = z.object({ id: deployId });
const GroupParams = z.object({ role: roleName, env: envName });
const GroupHostParams = GroupParams.extend({ host: nodeName });
const ForgetQuery = z.object({
  force: z.enum(['true', 'false']).optional(),
  /** Who forgets the host and why, for the log. */
  by: z.string().min(1).max(200).optional(),
  reason: z.string().min(1).max(2000).optional(),
});
const MAX_BODY_BYTES = 64 * 1024;

export function createApp(deps: AppDeps): Hono<CoordinatorEnv> {
  const { store, events, membership, fleet, token, publisher } = deps;
  const logger = deps.logger.child({ component: 'coordinator-http' });
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? (() => newDeployId(now()));
  const fleetEvents = deps.fleetEvents ?? new FleetEventBus(deps.logger);
  const creation: DeployCreationDeps = {
    fleetEvents,
    store,
    membership,
    slots: deps.slots ?? DEFAULT_SLOTS,
    ...(deps.deployDeadlineMs === undefined ? {} : { deadlineMs: deps.deployDeadlineMs }),
    logger: deps.logger,
    now,
    newId,
  };
  const { strategies } = deps;
  const locks = deps.groupLocks ?? new CoordinatorGroupLocks({ name: 'coordinator', logger: deps.logger });
  const starter = new DeployStarter({
    ...creation,
    locks,
    events,
    freezes: fleet,
    gates: fleet,
    ...(deps.routing ? { retiredClusters: deps.routing.store } : {}),
    ...(strategies ? { planStrategy: strategyPlanner(strategies, store, now) } : {}),
  });
  // Hosts still on a release marked broken go back to the newest tag each ran that is not broken.
  const quarantine = new Quarantine({ store, starter, logger: deps.logger, now, pending: strategies?.pendingQuarantines, ...(deps.quarantineGraceMs === undefined ? {} : { graceMs: deps.quarantineGraceMs }) });
  fleetEvents.subscribe('quarantine', quarantine.read);
  strategies?.runner.alsoOnTick('quarantine', quarantine.resumeDue);
  const catchUps = new CatchUps({ ...creation, locks, ...(strategies ? { liveColour: async (group) => (await strategies.colours.get(group))?.live } : {}) });
  const promoter = new Promoter({ store, starter, promote: deps.promote ?? {}, logger: deps.logger, fleetEvents });
  const reports = new ReportRecorder({ store, fleet, logger: deps.logger, now, fleetEvents });
  const outOfService = new OutOfServiceHosts({ store, membership, fleet, logger: deps.logger });
  const hosts = new HostAccess({ store, membership, now });
  const app = new Hono<CoordinatorEnv>();

  app.onError((error, c) => {
    if (error instanceof GrapevineError) {
      const status = statusOf(error);
      // A 502 or 503 is the store's or Serf's, logged where it happens with the deploy id; faults of the coordinator itself here.
      if (status === 500) logger.error({ err: error, method: c.req.method, path: c.req.path }, 'request failed');
      if (status === 401) c.header('WWW-Authenticate', 'Bearer');
      if (status === 403) {
        const credential = c.get('credential') as Credential | undefined;
        logger.warn({ method: c.req.method, path: c.req.path, actor: credential && actorOf(credential), err: error.message }, 'request refused');
      }
      return c.json({ error: { code: error.code, message: error.message } }, status);
    }
    // Hono's own refusals: malformed JSON (400), and the like.
    if (error instanceof HTTPException && error.status < 500) {
      const code = error.status === 400 ? 'invalid_input' : 'http_error';
      return c.json({ error: { code, message: error.message || 'bad request' } }, error.status);
    }
    logger.error({ err: error, method: c.req.method, path: c.req.path }, 'request failed unexpectedly');
    return c.json({ error: { code: 'internal', message: 'internal error; see the coordinator log' } }, 500);
  });

  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', async (c) => {
    if (await store.ping()) return c.json({ ok: true, ...(deps.leadership ? { coordinator: deps.leadership() } : {}) });
    return c.json({ ok: false, error: { code: 'unreachable', message: "the coordinator's redis does not answer" } }, 503);
  });

  // Every /v1 route admits the scopes it names with allow(); a host credential's own limits are HostAccess's.
  // The dashboard's sign-in cookie counts for its event stream (GET /v1/events) only: see ui/session.ts.
  app.use('/v1/*', authenticate({ bootstrapToken: token, verifier: deps.credentials, sessionToken: eventStreamSessionToken }));

  app.use('/v1/*', jsonBodyLimit(MAX_BODY_BYTES));

  app.post('/v1/releases', allow('deployer'), requireJson, valid('json', PublishReleaseBody), async (c) => {
    const { created, release } = await publisher.publish(c.req.valid('json'));
    if (created) fleetEvents.publish({ kind: 'release.published', at: release.publishedAt, actor: actorOf(c.get('credential')), release });
    return c.json(release, created ? 201 : 200);
  });

  app.get('/v1/releases/:role', allow('viewer'), valid('param', RoleParams), async (c) => {
    const { role } = c.req.valid('param');
    return c.json({ releases: await store.listReleases(role) });
  });

  app.post('/v1/releases/:role/:tag/broken', allow('operator'), valid('param', ReleaseParams), requireJson, valid('json', MarkBrokenBody), async (c) => {
    const { role, tag } = c.req.valid('param');
    const body = c.req.valid('json');
    // Who marked it is the credential's, never the body's.
    const by = actorOf(c.get('credential'));
    const release = await markBroken({ store, fleet, fleetEvents, logger }, role, tag, { reason: body.reason, at: now(), by });
    return c.json(release);
  });

  app.post('/v1/deploys', allow('deployer'), requireJson, valid('json', CreateDeployBody), async (c) => {
    const credential = c.get('credential');
    const create = () => starter.start(c.req.valid('json'), { startedBy: actorOf(credential) }, { scope: credential.scope });
    return c.json(await (deps.createOnce?.run(c.req.header('idempotency-key'), create) ?? create()), 201);
  });

  app.post('/v1/rollbacks', allow('deployer'), requireJson, valid('json', RollbackBody), async (c) => {
    const { role, env, runJob, force } = c.req.valid('json');
    const startedBy = actorOf(c.get('credential'));
    const create = async () => {
      const choice = await chooseRollback(store, role, env, { runJob });
      // A rollback is a deploy too: a frozen group takes it only when an operator forces it.
      const deploy = await starter.start(
        // Rolling whatever the role's strategy: a rollback goes back to a release the group ran, at once.
        { role, env, tag: choice.tag, strategy: 'rolling', ...(force === undefined ? {} : { force }) },
        { rollbackOf: choice.rollbackOf, runJob: choice.runJob, startedBy },
        { scope: c.get('credential').scope },
      );
      logger.warn({ deployId: deploy.id, role, env, tag: choice.tag, rollbackOf: choice.rollbackOf, runJob: choice.runJob, by: startedBy }, 'rollback started');
      return deploy;
    };
    // Once per idempotency key, as a deploy: a rollback retried on the other coordinator gets the first one's deploy, not a second rollback.
    return c.json(await (deps.createOnce?.run(c.req.header('idempotency-key'), create) ?? create()), 201);
  });

  // A host behind its group's release: 201 with a new catch-up, 200 with the one under way, 204 when it runs the release already.
  app.post('/v1/catch-ups', allow('host'), requireJson, valid('json', CatchUpBody), async (c) => {
    const body = c.req.valid('json');
    hosts.checkCatchUp(c.get('credential'), body.host);
    const answer = await catchUps.request(body, actorOf(c.get('credential')));
    if (answer.kind === 'up_to_date') return c.body(null, 204);
    return c.json(answer.deploy, answer.kind === 'created' ? 201 : 200);
  });

  registerDeployReadRoutes(app, { store, hosts });

  // Only a host reports, as itself, for a deploy that targets it: the outcome of a deploy is its hosts' word.
  app.post('/v1/deploys/:id/reports', allow('host'), valid('param', DeployParams), requireJson, valid('json', HostReport), async (c) => {
    const { id } = c.req.valid('param');
    const report = c.req.valid('json');
    await hosts.checkReport(c.get('credential'), id, report.host);
    const recorded = await reports.record(id, report);
    if (!recorded) throw new NotFoundError(`no deploy ${id}`);
    await promoter.afterReport(recorded.record);
    return c.json({ status: recorded.record.status });
  });

  // The hosts counted against the group's k, and forgetting one gone for good (409 while it deploys, unless forced).
  app.get('/v1/groups/:role/:env/out-of-service', allow('viewer'), valid('param', GroupParams), async (c) => {
    return c.json(await outOfService.list(c.req.valid('param')));
  });

  app.delete('/v1/groups/:role/:env/out-of-service/:host', allow('operator'), valid('param', GroupHostParams), valid('query', ForgetQuery), async (c) => {
    const { role, env, host } = c.req.valid('param');
    const query = c.req.valid('query');
    const actor = actorOf(c.get('credential'));
    // The credential says who; the query's `by` (the person at the keyboard) only adds to it.
    const by = query.by === undefined ? actor : `${actor}, for ${query.by}`;
    const forgotten = await outOfService.forget({ role, env }, host, {
      force: query.force === 'true',
      by,
      ...(query.reason === undefined ? {} : { reason: query.reason }),
    });
    if (forgotten.removed) {
      fleetEvents.publish({ kind: 'host.forgotten', at: now(), actor: by, role, env, host, forced: forgotten.forced, ...(query.reason === undefined ? {} : { reason: query.reason }) });
    }
    return c.json(forgotten);
  });

  const { eventFeed } = deps;
  if (eventFeed) registerEventRoutes(app, { feed: eventFeed, store, logger: deps.logger });
  registerUiRoutes(app, {
    store,
    membership,
    fleet,
    tokens: { bootstrapToken: token, verifier: deps.credentials },
    logger: deps.logger,
    now,
    ...(eventFeed ? { newestEventId: () => eventFeed.newestId() } : {}),
  });
  registerTokenRoutes(app, { credentials: deps.credentials, logger: deps.logger, now, fleetEvents });
  if (deps.keyring) registerSerfKeyRoutes(app, { keyring: deps.keyring, membership, logger: deps.logger, fleetEvents });
  if (deps.metrics) registerMetricsRoute(app, { metrics: deps.metrics, bootstrapToken: token, verifier: deps.credentials });
  if (deps.auditLog) registerAuditRoutes(app, { auditLog: deps.auditLog, now });
  if (strategies) registerStrategyRoutes(app, { store, runner: strategies.runner, colours: strategies.colours, hosts, fleetEvents, now });
  registerFreezeRoutes(app, { fleet, store, fleetEvents, logger: deps.logger, now, deadlineMs: deps.deployDeadlineMs ?? DEFAULT_DEADLINE_MS });
  if (deps.routing) registerRouting(app, { hosts, fleetEvents, locks, logger: deps.logger, now, ...deps.routing });
  if (deps.flags) registerFlagApi(app, { flags: deps.flags, bootstrapToken: token, verifier: deps.credentials, maxBodyBytes: MAX_BODY_BYTES, fleetEvents, logger: deps.logger, now });

  return app;
}
