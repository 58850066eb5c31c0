// Freezing a group: an operator parks its rollouts (waiting hosts take no slot, hosts
// mid-deploy finish their own host) and later resumes them. The freeze lives in Redis
// beside the slots (FleetControl.freeze), where the slot script reads it atomically with
// taking a slot; here it is validated, told to the fleet's events, and on unfreeze the
// group's deploys in progress get back the time they spent frozen.
import type { Hono } from 'hono';
import * as z from 'zod';
import { NotFoundError, ValidationError } from '../shared/contract/errors.js';
import { FreezeBody, MAX_FREEZE_MS, type FreezeMark } from '../shared/contract/freeze.js';
import type { Logger } from '../shared/contract/logger.js';
import { envName, roleName } from '../shared/contract/names.js';
import { actorOf } from '../shared/ports/credentials.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';
import type { DeployGroup, FleetControl } from '../shared/ports/fleet-state.js';
import { requireJson, valid } from '../shared/http/request-validation.js';
import { allow, type CoordinatorEnv } from './auth/authenticate.js';
import type { FleetEventPublisher } from './fleet-event-bus.js';

const GroupParams = z.object({ role: roleName, env: envName });
/** A group has one deploy in progress at a time, a few at most (a catch-up beside a rollout): more than this is not looked at. */
const DEPLOYS_TO_EXTEND = 20;

export interface FreezeRouteDeps {
  fleet: FleetControl;
  store: DeployStore;
  fleetEvents: FleetEventPublisher;
  logger: Logger;
  now: () => number;
  /** The coordinator's deploy deadline, for a deploy stored without deadlineAt. */
  deadlineMs: number;
}

export function registerFreezeRoutes(app: Hono<CoordinatorEnv>, deps: FreezeRouteDeps): void {
  const { fleet, fleetEvents, now } = deps;
  const log = deps.logger.child({ component: 'freeze' });

  app.post('/v1/groups/:role/:env/freeze', allow('operator'), valid('param', GroupParams), requireJson, valid('json', FreezeBody), async (c) => {
    const group = c.req.valid('param');
    const body = c.req.valid('json');
    const at = now();
    if (body.until !== undefined && body.until <= at) {
      throw new ValidationError(`until must be in the future; got ${new Date(body.until).toISOString()}, the coordinator's clock says ${new Date(at).toISOString()}`);
    }
    if (body.until !== undefined && body.until - at > MAX_FREEZE_MS) {
      throw new ValidationError(`until must be at most 7 days ahead; got ${new Date(body.until).toISOString()}`);
    }
    const by = actorOf(c.get('credential'));
    const mark: FreezeMark = { reason: body.reason, by, at, ...(body.until === undefined ? {} : { until: body.until }) };
    await fleet.freeze(group, mark, log);
    fleetEvents.publish({ kind: 'group.frozen', at, actor: by, role: group.role, env: group.env, reason: mark.reason, ...(mark.until === undefined ? {} : { until: mark.until }) });
    return c.json({ frozen: mark }, 201);
  });

  app.delete('/v1/groups/:role/:env/freeze', allow('operator'), valid('param', GroupParams), async (c) => {
    const group = c.req.valid('param');
    const mark = await fleet.unfreeze(group, log);
    if (!mark) throw new NotFoundError(`${group.role}/${group.env} is not frozen`);
    const at = now();
    const by = actorOf(c.get('credential'));
    const extended = await giveTimeBack(deps, group, mark, at);
    log.info({ role: group.role, env: group.env, by, frozenMs: at - mark.at, extended }, 'group unfrozen; its deploys in progress get their frozen time back');
    fleetEvents.publish({ kind: 'group.unfrozen', at, actor: by, role: group.role, env: group.env, reason: mark.reason, frozenMs: Math.max(0, at - mark.at) });
    return c.json({ unfrozen: mark, frozenMs: Math.max(0, at - mark.at), extended });
  });

  app.get('/v1/groups/:role/:env/freeze', allow('viewer'), valid('param', GroupParams), async (c) => {
    return c.json({ frozen: await fleet.frozen(c.req.valid('param')) });
  });
}

/**
 * Moves the deadline of each of the group's deploys in progress on by the time it spent
 * frozen (from the freeze, or from its own creation when it was forced in later): a freeze
 * parks a rollout, it must not use up its time. Returns the ids extended.
 */
export async function giveTimeBack(deps: Pick<FreezeRouteDeps, 'store' | 'deadlineMs'>, group: DeployGroup, mark: FreezeMark, at: number): Promise<string[]> {
  const deploys = await deps.store.listDeploys({ role: group.role, env: group.env, limit: DEPLOYS_TO_EXTEND });
  const extended: string[] = [];
  for (const deploy of deploys) {
    if (deploy.status !== 'in_progress') continue;
    const frozenMs = at - Math.max(mark.at, deploy.createdAt);
    if (frozenMs <= 0) continue;
    const deadlineAt = (deploy.deadlineAt ?? deploy.createdAt + deps.deadlineMs) + frozenMs;
    if (await deps.store.annotateDeploy(deploy.id, { deadlineAt, frozenMs: (deploy.frozenMs ?? 0) + frozenMs })) extended.push(deploy.id);
  }
  return extended;
}
