// The coordinator's HTTP API: releases, deploys, the per-host reports agents send, and the hosts each group counts out of service.
import { createHash, timingSafeEqual } from 'node:crypto';
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context, type ValidationTargets } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../shared/contract/logger.js';
import { z } from 'zod';
import {
  ConflictError,
  GrapevineError,
  NotFoundError,
  UnauthorizedError,
  UnreachableError,
  ValidationError,
} from '../shared/contract/errors.js';
import { deployId, envName, nodeName, releaseTag, roleName } from '../shared/contract/names.js';
import {
  CatchUpBody,
  CreateDeployBody,
  describeIssues,
  HostReport,
  MarkBrokenBody,
  PublishReleaseBody,
  type Release,
  RollbackBody,
} from '../shared/contract/schemas.js';
import { DeployStarter, newDeployId, type DeployCreationDeps } from './deploy-starter.js';
import { CatchUps } from './catch-up.js';
import { DEFAULT_SLOTS } from '../shared/contract/slot-count.js';
import { stopRollouts } from './stop-rollouts.js';
import type { FleetControl } from '../shared/ports/fleet-state.js';
import type { DeployEvents, Membership } from '../shared/ports/membership.js';
import { Promoter, type PromotionStep } from './promotion.js';
import { chooseRollback } from './rollback.js';
import { ReportRecorder } from './report-recorder.js';
import { OutOfServiceHosts } from './out-of-service.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';

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
  /** Bearer token every /v1 request must carry. */
  token: string;
  /** Where images of published releases live when a publish names none, e.g. `127.0.0.1:5000`. */
  registry: string;
  logger: Logger;
  now?: () => number;
  newId?: () => string;
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
/** An empty query value (`?role=`) means no filter, as a shell script leaving a variable unset would expect. */
const emptyAsMissing = (value: unknown) => (value === '' ? undefined : value);
const DeployListQuery = z.object({
  role: z.preprocess(emptyAsMissing, roleName.optional()),
  env: z.preprocess(emptyAsMissing, envName.optional()),
  limit: z.preprocess(emptyAsMissing, z.coerce.number().int().min(1).max(200).default(20)),
});

const MAX_BODY_BYTES = 64 * 1024;

const TARGET_NAMES: Partial<Record<keyof ValidationTargets, string>> = { json: 'body', query: 'query', param: 'path' };

/** zValidator whose failures become a ValidationError naming every wrong field, answered by onError. */
function valid<Target extends keyof ValidationTargets, Schema extends z.ZodType>(target: Target, schema: Schema) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      throw new ValidationError(`invalid ${TARGET_NAMES[target] ?? target}: ${describeIssues(new z.ZodError(result.error.issues))}`);
    }
  });
}

/** The validator reads a body only when its Content-Type says JSON; anything else would pass as `{}`. */
async function requireJson(c: Context, next: () => Promise<void>): Promise<void> {
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new ValidationError('request body must be JSON sent with Content-Type: application/json');
  await next();
}

function statusOf(error: GrapevineError): ContentfulStatusCode {
  if (error instanceof ValidationError) return 400;
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof UnreachableError) return 502;
  // The one code raised as a plain GrapevineError that is the caller's mistake.
  if (error.code === 'release_not_found') return 404;
  // Redis answered but refused (loading, read-only, out of memory): worth another try later.
  return error.code === 'redis_error' ? 503 : 500;
}

function sameToken(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so the comparison leaks neither content nor length.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export function createApp(deps: AppDeps): Hono {
  const { store, events, membership, fleet, token, registry } = deps;
  const logger = deps.logger.child({ component: 'coordinator-http' });
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? (() => newDeployId(now()));
  const creation: DeployCreationDeps = {
    store,
    membership,
    slots: deps.slots ?? DEFAULT_SLOTS,
    ...(deps.deployDeadlineMs === undefined ? {} : { deadlineMs: deps.deployDeadlineMs }),
    logger: deps.logger,
    now,
    newId,
  };
  const starter = new DeployStarter({ ...creation, events });
  const catchUps = new CatchUps(creation);
  const promoter = new Promoter({ store, starter, promote: deps.promote ?? {}, logger: deps.logger });
  const reports = new ReportRecorder({ store, fleet, logger: deps.logger, now });
  const outOfService = new OutOfServiceHosts({ store, membership, fleet, logger: deps.logger });
  const app = new Hono();

  app.onError((error, c) => {
    if (error instanceof GrapevineError) {
      const status = statusOf(error);
      // A 502 or 503 is the store's or Serf's, logged where it happens with the deploy id; faults of the coordinator itself here.
      if (status === 500) logger.error({ err: error, method: c.req.method, path: c.req.path }, 'request failed');
      if (status === 401) c.header('WWW-Authenticate', 'Bearer');
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
    if (await store.ping()) return c.json({ ok: true });
    return c.json({ ok: false, error: { code: 'unreachable', message: "the coordinator's redis does not answer" } }, 503);
  });

  app.use('/v1/*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1] || !sameToken(match[1], token)) throw new UnauthorizedError();
    await next();
  });

  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ error: { code: 'too_large', message: `request body is over ${MAX_BODY_BYTES} bytes` } }, 413),
    }),
  );

  app.post('/v1/releases', requireJson, valid('json', PublishReleaseBody), async (c) => {
    const body = c.req.valid('json');
    const release: Release = {
      role: body.role,
      tag: body.tag,
      image: body.image ?? `${registry}/${body.role}:${body.tag}`,
      publishedAt: now(),
    };
    const stored = await store.publishRelease(release);
    if (stored.created) {
      logger.info({ role: release.role, tag: release.tag, image: release.image }, 'release published');
      return c.json(stored.release, 201);
    }
    if (stored.release.image === release.image) return c.json(stored.release, 200);
    throw new ConflictError(
      'release_exists',
      `release ${release.role}:${release.tag} is already published with image ${stored.release.image}, not ${release.image}; publish a new tag`,
    );
  });

  app.get('/v1/releases/:role', valid('param', RoleParams), async (c) => {
    const { role } = c.req.valid('param');
    return c.json({ releases: await store.listReleases(role) });
  });

  app.post('/v1/releases/:role/:tag/broken', valid('param', ReleaseParams), requireJson, valid('json', MarkBrokenBody), async (c) => {
    const { role, tag } = c.req.valid('param');
    const body = c.req.valid('json');
    const by = body.by ?? 'operator';
    const release = await store.markReleaseBroken(role, tag, { reason: body.reason, at: now(), by });
    if (!release) throw new GrapevineError('release_not_found', `role ${role} has no release ${tag}`);
    logger.warn({ role, tag, reason: release.broken?.reason, by }, 'release marked broken');
    // Hosts waiting for a slot stand down at once, in every environment.
    await stopRollouts({ fleet, store, logger }, role, tag, { reason: body.reason, by });
    return c.json(release);
  });

  app.post('/v1/deploys', requireJson, valid('json', CreateDeployBody), async (c) => {
    return c.json(await starter.start(c.req.valid('json')), 201);
  });

  app.post('/v1/rollbacks', requireJson, valid('json', RollbackBody), async (c) => {
    const { role, env, runJob } = c.req.valid('json');
    const choice = await chooseRollback(store, role, env, { runJob });
    const deploy = await starter.start({ role, env, tag: choice.tag }, { rollbackOf: choice.rollbackOf, runJob: choice.runJob });
    logger.warn({ deployId: deploy.id, role, env, tag: choice.tag, rollbackOf: choice.rollbackOf, runJob: choice.runJob }, 'rollback started');
    return c.json(deploy, 201);
  });

  // A host behind its group's release: 201 with a new catch-up, 200 with the one under way, 204 when it runs the release already.
  app.post('/v1/catch-ups', requireJson, valid('json', CatchUpBody), async (c) => {
    const answer = await catchUps.request(c.req.valid('json'));
    if (answer.kind === 'up_to_date') return c.body(null, 204);
    return c.json(answer.deploy, answer.kind === 'created' ? 201 : 200);
  });

  app.get('/v1/deploys', valid('query', DeployListQuery), async (c) => {
    return c.json({ deploys: await store.listDeploys(c.req.valid('query')) });
  });

  app.get('/v1/deploys/:id', valid('param', DeployParams), async (c) => {
    const { id } = c.req.valid('param');
    const deploy = await store.getDeploy(id);
    if (!deploy) throw new NotFoundError(`no deploy ${id}`);
    return c.json(deploy);
  });

  app.post('/v1/deploys/:id/reports', valid('param', DeployParams), requireJson, valid('json', HostReport), async (c) => {
    const { id } = c.req.valid('param');
    const recorded = await reports.record(id, c.req.valid('json'));
    if (!recorded) throw new NotFoundError(`no deploy ${id}`);
    await promoter.afterReport(recorded.record);
    return c.json({ status: recorded.record.status });
  });

  // The hosts counted against the group's k, and forgetting one gone for good (409 while it deploys, unless forced).
  app.get('/v1/groups/:role/:env/out-of-service', valid('param', GroupParams), async (c) => {
    return c.json(await outOfService.list(c.req.valid('param')));
  });

  app.delete('/v1/groups/:role/:env/out-of-service/:host', valid('param', GroupHostParams), valid('query', ForgetQuery), async (c) => {
    const { role, env, host } = c.req.valid('param');
    const query = c.req.valid('query');
    const forgotten = await outOfService.forget({ role, env }, host, {
      force: query.force === 'true',
      by: query.by ?? 'operator',
      ...(query.reason === undefined ? {} : { reason: query.reason }),
    });
    return c.json(forgotten);
  });

  return app;
}
