// The token API, for operators: create a scoped credential (its token shown once), list
// them (no secret), revoke one by id. Every change is logged with who made it.
import type { Hono } from 'hono';
import * as z from 'zod';
import { NotFoundError, ValidationError } from '../../shared/contract/errors.js';
import { parseDuration } from '../../shared/contract/duration.js';
import type { Logger } from '../../shared/contract/logger.js';
import { CreateTokenBody } from '../../shared/contract/token-schemas.js';
import { actorOf, type CredentialStore } from '../../shared/ports/credentials.js';
import { requireJson, valid } from '../../shared/http/request-validation.js';
import { allow, BOOTSTRAP_CREDENTIAL, type CoordinatorEnv } from './authenticate.js';
import type { FleetEventPublisher } from '../fleet-event-bus.js';

const TokenParams = z.object({ id: z.string().min(1).max(64) });

export interface TokenRouteDeps {
  credentials: CredentialStore;
  logger: Logger;
  now: () => number;
  fleetEvents: FleetEventPublisher;
}

export function registerTokenRoutes(app: Hono<CoordinatorEnv>, { credentials, logger, now, fleetEvents }: TokenRouteDeps): void {
  const log = logger.child({ component: 'credentials' });

  app.post('/v1/tokens', allow('operator'), requireJson, valid('json', CreateTokenBody), async (c) => {
    const body = c.req.valid('json');
    const by = actorOf(c.get('credential'));
    const expiresAt = body.ttl === undefined ? undefined : now() + parseDuration(body.ttl, 'ttl');
    const created = await credentials.create({
      scope: body.scope,
      ...(body.host === undefined ? {} : { host: body.host }),
      // A host credential is named after its host unless told otherwise.
      name: body.name ?? body.host ?? 'unnamed',
      createdBy: by,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    });
    const { id, scope, host, name } = created.credential;
    log.info({ id, scope, host, name, expiresAt, by }, 'credential created');
    const token = { id, scope, name, ...(host === undefined ? {} : { host }), ...(expiresAt === undefined ? {} : { expiresAt }) };
    fleetEvents.publish({ kind: 'token.created', at: created.credential.createdAt, actor: by, token });
    return c.json(created, 201);
  });

  app.get('/v1/tokens', allow('operator'), async (c) => {
    return c.json({ credentials: await credentials.list() });
  });

  app.delete('/v1/tokens/:id', allow('operator'), valid('param', TokenParams), async (c) => {
    const { id } = c.req.valid('param');
    if (id === BOOTSTRAP_CREDENTIAL.id) {
      throw new ValidationError("the bootstrap credential is the coordinator config's token: change `token` there and restart the coordinator");
    }
    // Read first, so the audit names what was revoked, not only its id; a read that changes nothing,
    // since a revoke of an unknown id is refused and a refusal must leave the store as it was.
    const revoked = (await credentials.list({ prune: false })).find((credential) => credential.id === id);
    if (!(await credentials.revoke(id))) throw new NotFoundError(`no credential ${id}`);
    const by = actorOf(c.get('credential'));
    log.warn({ id, by }, 'credential revoked');
    const token = { id, ...(revoked ? { scope: revoked.scope, name: revoked.name } : {}) };
    fleetEvents.publish({ kind: 'token.revoked', at: now(), actor: by, token });
    return c.json({ id, revoked: true as const });
  });
}
