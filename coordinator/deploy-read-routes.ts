// Reads of deploys over HTTP, each sized by what it returns rather than by the fleet:
// summaries page by page, one host's own view (what an agent needs to take part), the
// host reports of one deploy page by page, and the whole deploy for small ones.
import type { Hono } from 'hono';
import * as z from 'zod';
import { ForbiddenError, NotFoundError } from '../shared/contract/errors.js';
import { deployId, nodeName } from '../shared/contract/names.js';
import { DeployListQuery, HostPageQuery } from '../shared/contract/deploy-views.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';
import type { Credential } from '../shared/ports/credentials.js';
import { valid } from '../shared/http/request-validation.js';
import { allow, type CoordinatorEnv } from './auth/authenticate.js';
import type { HostAccess } from './auth/host-access.js';

const DeployParams = z.object({ id: deployId });
const emptyAsMissing = (value: unknown) => (value === '' ? undefined : value);
/** A host credential reads its own view without naming itself; anyone else names the host. */
const HostViewQuery = z.object({ host: z.preprocess(emptyAsMissing, nodeName.optional()) });

export interface DeployReadDeps {
  store: DeployStore;
  hosts: HostAccess;
}

export function registerDeployReadRoutes(app: Hono<CoordinatorEnv>, { store, hosts }: DeployReadDeps): void {
  // Summaries (counts, never reports), newest first; `next` is the cursor of the next page.
  app.get('/v1/deploys', allow('viewer', 'host'), valid('query', DeployListQuery), async (c) => {
    const { cursor, host, ...filter } = c.req.valid('query');
    const credential = c.get('credential');
    await hosts.checkList(credential, filter);
    if (host !== undefined) refuseOtherHost(credential, host);
    const page = await store.listSummaries({ ...filter, cursor, host });
    return c.json({ deploys: page.items, ...(page.next === undefined ? {} : { next: page.next }) });
  });

  // The whole deploy up to WHOLE_DEPLOY_HOSTS reports; above, the first page and `hostsNext`.
  app.get('/v1/deploys/:id', allow('viewer', 'host'), valid('param', DeployParams), async (c) => {
    const { id } = c.req.valid('param');
    const deploy = await store.getDeploy(id);
    if (!deploy) throw new NotFoundError(`no deploy ${id}`);
    await hosts.checkRead(c.get('credential'), deploy);
    return c.json(deploy);
  });

  app.get('/v1/deploys/:id/summary', allow('viewer', 'host'), valid('param', DeployParams), async (c) => {
    const { id } = c.req.valid('param');
    const summary = await store.getSummary(id);
    if (!summary) throw new NotFoundError(`no deploy ${id}`);
    await hosts.checkRead(c.get('credential'), { ...summary, targets: [] });
    return c.json(summary);
  });

  // What an agent reads when a deploy's event reaches it: constant size whatever the fleet.
  app.get('/v1/deploys/:id/host-view', allow('viewer', 'host'), valid('param', DeployParams), valid('query', HostViewQuery), async (c) => {
    const { id } = c.req.valid('param');
    const credential = c.get('credential');
    const host = c.req.valid('query').host ?? credential.host;
    if (host === undefined) throw new ForbiddenError('name the host whose view to read: ?host=NAME');
    refuseOtherHost(credential, host);
    const view = await store.getHostView(id, host);
    if (!view) throw new NotFoundError(`no deploy ${id}`);
    await hosts.checkRead(credential, { ...view, targets: view.target ? [host] : [] });
    return c.json(view);
  });

  app.get('/v1/deploys/:id/hosts', allow('viewer'), valid('param', DeployParams), valid('query', HostPageQuery), async (c) => {
    const { id } = c.req.valid('param');
    const page = await store.hostReports(id, c.req.valid('query'));
    if (!page) throw new NotFoundError(`no deploy ${id}`);
    return c.json(page);
  });
}

/** A host reads views as itself only. */
function refuseOtherHost(credential: Credential, host: string): void {
  if (credential.scope === 'host' && credential.host !== host) {
    throw new ForbiddenError(`host ${credential.host ?? '(none)'} may read only its own view of a deploy, not ${host}'s`);
  }
}
