// The flag management API: set a flag's settings (deployer), pull its kill switch (deployer),
// list flags (viewer), delete one (operator). Each change is one atomic swap in the store,
// decided by the pure rules of flag-changes.ts, then told to the fleet's events (audit,
// notifications, the event stream).
import type { Hono } from 'hono';
import * as z from 'zod';
import { NotFoundError } from '../../shared/contract/errors.js';
import { FlagSettings, KillBody, describeFlag, flagName, type Flag } from '../../shared/contract/flags.js';
import type { Logger } from '../../shared/contract/logger.js';
import { envName } from '../../shared/contract/names.js';
import { actorOf } from '../../shared/ports/credentials.js';
import type { FlagStore } from '../../shared/ports/flag-store.js';
import { requireJson, valid } from '../../shared/http/request-validation.js';
import { allow, type CoordinatorEnv } from '../auth/authenticate.js';
import type { FleetEventPublisher } from '../fleet-event-bus.js';
import { applySettings, killFlag } from './flag-changes.js';

const FlagParams = z.object({ env: envName, name: flagName });
/** An empty `?env=` means every environment, as a shell script leaving a variable unset would expect. */
const ListQuery = z.object({ env: z.preprocess((value) => (value === '' ? undefined : value), envName.optional()) });

export interface FlagRouteDeps {
  flags: FlagStore;
  fleetEvents: FleetEventPublisher;
  logger: Logger;
  now: () => number;
}

export function registerFlagRoutes(app: Hono<CoordinatorEnv>, deps: FlagRouteDeps): void {
  const { flags, fleetEvents, now } = deps;
  const log = deps.logger.child({ component: 'flags' });
  const unknown = (env: string, name: string) => new NotFoundError(`no flag ${name} in ${env}; grapevine flag list --env ${env} shows its flags`);

  app.put('/v1/flags/:env/:name', allow('deployer'), valid('param', FlagParams), requireJson, valid('json', FlagSettings), async (c) => {
    const { env, name } = c.req.valid('param');
    const settings = c.req.valid('json');
    const by = actorOf(c.get('credential'));
    const at = now();
    const change = await flags.change(env, name, (current) => applySettings(current, settings, { env, name, by, at }));
    const flag = change.after as Flag;
    const created = change.before === undefined;
    const revived = change.before?.killed !== undefined && flag.killed === undefined;
    const summary = `${revived ? 'kill switch off; ' : ''}${describeFlag(flag)}`;
    log.info({ env, flag: name, version: flag.version, by, created }, `flag ${created ? 'created' : 'set'}: ${summary}`);
    fleetEvents.publish({ kind: 'flag.changed', at, actor: by, env, flag: name, change: created ? 'created' : 'updated', version: flag.version, summary });
    return c.json({ flag, created, changed: true }, created ? 201 : 200);
  });

  app.post('/v1/flags/:env/:name/kill', allow('deployer'), valid('param', FlagParams), requireJson, valid('json', KillBody), async (c) => {
    const { env, name } = c.req.valid('param');
    const body = c.req.valid('json');
    const by = actorOf(c.get('credential'));
    const at = now();
    const change = await flags.change(env, name, (current) => {
      if (current === undefined) throw unknown(env, name);
      return killFlag(current, body, { env, name, by, at }) ?? 'unchanged';
    });
    const flag = change.after as Flag;
    if (change.changed) {
      log.warn({ env, flag: name, version: flag.version, by, reason: body.reason }, 'flag killed: everyone gets its off variant');
      fleetEvents.publish({ kind: 'flag.killed', at, actor: by, env, flag: name, ...(body.reason === undefined ? {} : { reason: body.reason }) });
    }
    return c.json({ flag, changed: change.changed });
  });

  app.get('/v1/flags', allow('viewer'), valid('query', ListQuery), async (c) => {
    const { env } = c.req.valid('query');
    const envs = env === undefined ? await flags.envs() : [env];
    const lists = await Promise.all(envs.map(async (each) => (await flags.list(each)).flags));
    return c.json({ flags: lists.flat() });
  });

  app.get('/v1/flags/:env/:name', allow('viewer'), valid('param', FlagParams), async (c) => {
    const { env, name } = c.req.valid('param');
    const flag = await flags.get(env, name);
    if (!flag) throw unknown(env, name);
    return c.json({ flag });
  });

  app.delete('/v1/flags/:env/:name', allow('operator'), valid('param', FlagParams), async (c) => {
    const { env, name } = c.req.valid('param');
    const by = actorOf(c.get('credential'));
    const change = await flags.change(env, name, (current) => {
      if (current === undefined) throw unknown(env, name);
      return null;
    });
    const deleted = change.before as Flag;
    log.warn({ env, flag: name, by }, 'flag deleted: evaluations of it now answer FLAG_NOT_FOUND');
    fleetEvents.publish({ kind: 'flag.changed', at: now(), actor: by, env, flag: name, change: 'deleted', version: deleted.version, summary: 'deleted; applications get their code default' });
    return c.json({ deleted });
  });
}
