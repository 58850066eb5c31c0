// `GET /v1/audit` (viewer): the fleet's audit log, newest first, filtered by role,
// environment and a start (`since`: a duration back from the coordinator's clock, or an
// ISO time), at most `limit` entries (100 unless asked, at most 1000).
import type { Hono } from 'hono';
import { AuditQuery, sinceTime } from '../../shared/contract/audit-entry.js';
import type { AuditLog } from '../../shared/ports/audit-log.js';
import { valid } from '../../shared/http/request-validation.js';
import { allow, type CoordinatorEnv } from '../auth/authenticate.js';

export interface AuditRouteDeps {
  auditLog: AuditLog;
  now: () => number;
}

export function registerAuditRoutes(app: Hono<CoordinatorEnv>, { auditLog, now }: AuditRouteDeps): void {
  app.get('/v1/audit', allow('viewer'), valid('query', AuditQuery), async (c) => {
    const { role, env, since, limit } = c.req.valid('query');
    const sinceMs = since === undefined ? undefined : sinceTime(since, now(), 'since');
    return c.json(await auditLog.read({ role, env, limit, ...(sinceMs === undefined ? {} : { sinceMs }) }));
  });
}
