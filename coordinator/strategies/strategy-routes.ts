// The strategies' API (README, "Strategies"): an operator promotes or aborts a paused canary,
// anyone may read a canary's report, a deployer switches a blue/green group back to the colour
// it left, and a group's hosts read which colour is live.
import type { Hono } from 'hono';
import * as z from 'zod';
import { deployId, envName, roleName } from '../../shared/contract/names.js';
import { NotFoundError } from '../../shared/contract/errors.js';
import { actorOf } from '../../shared/ports/credentials.js';
import type { ColourState } from '../../shared/ports/colour-state.js';
import type { DeployStore } from '../../shared/ports/deploy-store.js';
import { allow, type CoordinatorEnv } from '../auth/authenticate.js';
import type { HostAccess } from '../auth/host-access.js';
import { valid } from '../../shared/http/request-validation.js';
import type { FleetEventPublisher } from '../fleet-event-bus.js';
import type { StrategyRunner } from './strategy-runner.js';

const DeployParams = z.object({ id: deployId });
const GroupParams = z.object({ role: roleName, env: envName });

export interface StrategyRouteDeps {
  store: DeployStore;
  runner: StrategyRunner;
  colours: ColourState;
  hosts: HostAccess;
  fleetEvents: FleetEventPublisher;
  now: () => number;
}

export function registerStrategyRoutes(app: Hono<CoordinatorEnv>, deps: StrategyRouteDeps): void {
  const { store, runner, colours, hosts } = deps;

  app.post('/v1/deploys/:id/promote', allow('operator'), valid('param', DeployParams), async (c) => {
    return c.json(await runner.promote(c.req.valid('param').id, actorOf(c.get('credential'))));
  });

  app.post('/v1/deploys/:id/abort', allow('operator'), valid('param', DeployParams), async (c) => {
    return c.json(await runner.abort(c.req.valid('param').id, actorOf(c.get('credential'))));
  });

  // What the judge saw and said, step by step: the deploy's strategy, without the hosts' reports.
  app.get('/v1/deploys/:id/canary', allow('viewer'), valid('param', DeployParams), async (c) => {
    const { id } = c.req.valid('param');
    const deploy = await store.getDeploy(id);
    if (!deploy) throw new NotFoundError(`no deploy ${id}`);
    if (deploy.strategy === undefined) throw new NotFoundError(`deploy ${id} is a ${deploy.rollbackOf ? 'rollback' : 'rolling deploy'}: it has no canary report`);
    const { hosts: _hosts, ...record } = deploy;
    return c.json(record);
  });

  app.post('/v1/groups/:role/:env/switch', allow('deployer'), valid('param', GroupParams), async (c) => {
    const group = c.req.valid('param');
    const actor = actorOf(c.get('credential'));
    const switched = await runner.switchBack(group, actor);
    deps.fleetEvents.publish({ kind: 'group.switched', at: deps.now(), actor, ...group, live: switched.live, servers: switched.servers, ms: switched.ms });
    return c.json(switched);
  });

  app.get('/v1/groups/:role/:env/colour', allow('viewer', 'host'), valid('param', GroupParams), async (c) => {
    const group = c.req.valid('param');
    await hosts.checkList(c.get('credential'), group);
    const stored = await colours.get(group);
    // A group that never ran blue/green serves blue: its hosts replace blue.
    return c.json({ ...group, live: stored?.live ?? 'blue', retired: stored?.retired ?? null, ...(stored?.retireAt === undefined ? {} : { retireAt: stored.retireAt }) });
  });
}
