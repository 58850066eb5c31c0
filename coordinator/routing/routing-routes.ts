// Red-white routing's API (README, "Red-white routing"): a viewer reads a group's routes and
// their usage, a deployer or operator changes them, an operator retires a cluster, and a
// group's hosts read which clusters are retired (their reconcile leaves those out of service).
import type { Hono } from 'hono';
import * as z from 'zod';
import { envName, roleName } from '../../shared/contract/names.js';
import { MAX_TRAFFIC_RETAIN_MS } from '../../shared/contract/relay-config.js';
import { DefaultClusterBody, SetRouteBody, clientTypeName, clusterName, versionRange } from '../../shared/contract/routing.js';
import { actorOf } from '../../shared/ports/credentials.js';
import type { RouteStore } from '../../shared/ports/route-store.js';
import { requireJson, valid } from '../../shared/http/request-validation.js';
import { allow, type CoordinatorEnv } from '../auth/authenticate.js';
import type { HostAccess } from '../auth/host-access.js';
import type { GroupRouting } from './group-routing.js';

const GroupParams = z.object({ role: roleName, env: envName });
const ClusterParams = GroupParams.extend({ cluster: clusterName });
const RemoveRouteQuery = z.object({ client: versionRange, clientType: clientTypeName.optional() });
/** The usage window: 5 minutes unless asked; the relay refuses one longer than the traffic it keeps. */
export const DEFAULT_USAGE_WINDOW_MS = 5 * 60_000;
const UsageQuery = z.object({
  windowMs: z.coerce
    .number()
    .int('must be a whole number of ms')
    .min(1000, 'must be at least 1000 ms')
    .max(MAX_TRAFFIC_RETAIN_MS, `must be at most ${MAX_TRAFFIC_RETAIN_MS} ms (an hour), the most traffic a relay keeps`)
    .default(DEFAULT_USAGE_WINDOW_MS),
});

export interface RoutingRouteDeps {
  routing: GroupRouting;
  store: RouteStore;
  hosts: HostAccess;
}

export function registerRoutingRoutes(app: Hono<CoordinatorEnv>, deps: RoutingRouteDeps): void {
  const { routing, store, hosts } = deps;

  app.get('/v1/groups/:role/:env/routes', allow('viewer'), valid('param', GroupParams), async (c) => c.json(await routing.view(c.req.valid('param'))));

  app.post('/v1/groups/:role/:env/routes', allow('deployer'), valid('param', GroupParams), requireJson, valid('json', SetRouteBody), async (c) => {
    return c.json(await routing.setRoute(c.req.valid('param'), c.req.valid('json'), actorOf(c.get('credential'))));
  });

  app.delete('/v1/groups/:role/:env/routes', allow('deployer'), valid('param', GroupParams), valid('query', RemoveRouteQuery), async (c) => {
    const { client, clientType } = c.req.valid('query');
    return c.json(await routing.removeRoute(c.req.valid('param'), client, clientType, actorOf(c.get('credential'))));
  });

  app.put('/v1/groups/:role/:env/routes/default', allow('deployer'), valid('param', GroupParams), requireJson, valid('json', DefaultClusterBody), async (c) => {
    return c.json(await routing.setDefault(c.req.valid('param'), c.req.valid('json').cluster, actorOf(c.get('credential'))));
  });

  app.get('/v1/groups/:role/:env/routes/usage', allow('viewer'), valid('param', GroupParams), valid('query', UsageQuery), async (c) => {
    return c.json(await routing.usage(c.req.valid('param'), c.req.valid('query').windowMs));
  });

  app.post('/v1/groups/:role/:env/clusters/:cluster/retire', allow('operator'), valid('param', ClusterParams), async (c) => {
    const { cluster, ...group } = c.req.valid('param');
    return c.json(await routing.retire(group, cluster, actorOf(c.get('credential'))));
  });

  // Asked by each host with a cluster tag at every reconcile round: no relay call, one Redis read.
  app.get('/v1/groups/:role/:env/clusters/retired', allow('viewer', 'host'), valid('param', GroupParams), async (c) => {
    const group = c.req.valid('param');
    await hosts.checkList(c.get('credential'), group);
    return c.json({ ...group, retired: await store.retired(group) });
  });
}
