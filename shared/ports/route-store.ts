// What the coordinator keeps of red-white routing (README, "Red-white routing"): each group's
// route table as last applied to the load balancer, and the clusters it retired. The Redis
// implementation is shared/redis/route-store.ts.
import type { RouteTable } from '../contract/routing.js';
import type { DeployGroup } from './fleet-state.js';

/** A cluster taken out of the load balancer (`grapevine cluster retire`). */
export interface RetiredCluster {
  cluster: string;
  at: number;
  by: string;
}

export interface RouteStore {
  /** The group's table; undefined before any route was set. */
  routes(group: DeployGroup): Promise<RouteTable | undefined>;
  /** Replaces the group's table; undefined removes it (the put-back of a group that had none). */
  saveRoutes(group: DeployGroup, table: RouteTable | undefined): Promise<void>;
  /** The group's retired clusters, by name. */
  retired(group: DeployGroup): Promise<RetiredCluster[]>;
  retire(group: DeployGroup, mark: RetiredCluster): Promise<void>;
  /** Takes the mark away; false when the cluster was not retired. */
  unretire(group: DeployGroup, cluster: string): Promise<boolean>;
}

/**
 * What the coordinator asks of the load balancer for routing, through its relay
 * (shared/haproxy/relay-contract.ts routingPaths): a frontend's clusters, a new route table
 * applied whole, a backend's servers into maintenance, and each server's traffic.
 */
export interface LoadBalancerRouting {
  frontend(name: string): Promise<{ clusters: { cluster: string; backend: string }[] }>;
  applyRoutes(frontend: string, table: RouteTable): Promise<void>;
  /** Every server of the backend into maintenance; the servers it holds. */
  maintenance(backend: string): Promise<{ name: string }[]>;
  traffic(backend: string, fromMs: number, toMs: number): Promise<{ server: string; buckets: { requests: number; errors: number }[] }[]>;
}
