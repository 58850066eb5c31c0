// Red-white routing's calls to the coordinator (coordinator/routing/routing-routes.ts), for the
// CLI's `route` and `cluster retire` and for an agent's reconcile (which clusters are retired).
import * as z from 'zod';
import { NotFoundError } from '../contract/errors.js';
import { RouteTable, RouteUsage, type Route } from '../contract/routing.js';
import type { CoordinatorClient } from './coordinator-client.js';

const RetiredCluster = z.object({ cluster: z.string(), at: z.number(), by: z.string() });
export const RoutesView = RouteTable.extend({
  role: z.string(),
  env: z.string(),
  frontend: z.string(),
  clusters: z.array(z.object({ cluster: z.string(), backend: z.string(), retired: z.boolean() })),
  retired: z.array(RetiredCluster),
});
export type RoutesView = z.infer<typeof RoutesView>;
const RetiredAnswer = z.object({ retired: z.array(RetiredCluster) });
export const RetireAnswer = z.object({ role: z.string(), env: z.string(), cluster: z.string(), backend: z.string(), servers: z.number(), at: z.number() });
export type RetireAnswer = z.infer<typeof RetireAnswer>;

const groupPath = (role: string, env: string) => `/v1/groups/${encodeURIComponent(role)}/${encodeURIComponent(env)}`;

export class RoutingClient {
  constructor(private readonly client: Pick<CoordinatorClient, 'send'>) {}

  routes(role: string, env: string): Promise<RoutesView> {
    return this.client.send('GET', `${groupPath(role, env)}/routes`, RoutesView);
  }

  setRoute(role: string, env: string, route: Route): Promise<RoutesView> {
    return this.client.send('POST', `${groupPath(role, env)}/routes`, RoutesView, route);
  }

  removeRoute(role: string, env: string, client: string, clientType?: string): Promise<RoutesView> {
    const query = new URLSearchParams({ client, ...(clientType === undefined ? {} : { clientType }) });
    return this.client.send('DELETE', `${groupPath(role, env)}/routes?${query}`, RoutesView);
  }

  setDefault(role: string, env: string, cluster: string): Promise<RoutesView> {
    return this.client.send('PUT', `${groupPath(role, env)}/routes/default`, RoutesView, { cluster });
  }

  usage(role: string, env: string, windowMs?: number): Promise<RouteUsage> {
    return this.client.send('GET', `${groupPath(role, env)}/routes/usage${windowMs === undefined ? '' : `?windowMs=${windowMs}`}`, RouteUsage);
  }

  retire(role: string, env: string, cluster: string): Promise<RetireAnswer> {
    return this.client.send('POST', `${groupPath(role, env)}/clusters/${encodeURIComponent(cluster)}/retire`, RetireAnswer);
  }

  /** The group's retired clusters' names; none from a coordinator that predates routing (404). */
  async retiredClusters(role: string, env: string): Promise<string[]> {
    try {
      return (await this.client.send('GET', `${groupPath(role, env)}/clusters/retired`, RetiredAnswer)).retired.map((r) => r.cluster);
    } catch (error) {
      if (error instanceof NotFoundError) return [];
      throw error;
    }
  }
}
