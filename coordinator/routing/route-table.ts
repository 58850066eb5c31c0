// The rules of a group's route table, apart from where it is kept or applied: a route set is
// put first (replacing one of the same client and type), a route is removed by its client and
// type, clusters are checked against the frontend's, and a cluster still routed to is named.
import { ConflictError, GrapevineError, NotFoundError, ValidationError } from '../../shared/contract/errors.js';
import { MAX_ROUTES, type Route, type RouteTable } from '../../shared/contract/routing.js';

/** A frontend's clusters as its relay names them, each with the backend that serves it. */
export interface KnownCluster {
  cluster: string;
  backend: string;
}

/** Before any route is set, every request goes to the frontend's first cluster. */
export function initialTable(clusters: readonly KnownCluster[], frontend: string): RouteTable {
  const first = clusters[0];
  if (!first) throw new GrapevineError('lb_relay_error', `the load balancer's frontend ${frontend} has no cluster`);
  return { routes: [], defaultCluster: first.cluster };
}

/** The client text as compared: `>=1.0  <1.2` and `>=1.0 <1.2` are the same route. */
const clientText = (client: string) => client.trim().split(/\s+/).join(' ');
const sameRoute = (route: Route, client: string, clientType: string | undefined) => clientText(route.client) === clientText(client) && route.clientType === clientType;

/** `route` first, and no other route of the same client text and type. */
export function withRoute(table: RouteTable, route: Route): RouteTable {
  const rest = table.routes.filter((r) => !sameRoute(r, route.client, route.clientType));
  if (rest.length + 1 > MAX_ROUTES) throw new ValidationError(`routes: a group has at most ${MAX_ROUTES} routes; remove one first (grapevine route rm)`);
  return { ...table, routes: [{ ...route, client: clientText(route.client) }, ...rest] };
}

/** The table without the route of that client and type; NotFoundError naming it when there is none. */
export function withoutRoute(table: RouteTable, client: string, clientType: string | undefined): RouteTable {
  const rest = table.routes.filter((r) => !sameRoute(r, client, clientType));
  if (rest.length === table.routes.length) {
    const which = `${clientType === undefined ? 'every client type' : `client type ${clientType}`}`;
    throw new NotFoundError(`no route for client ${JSON.stringify(clientText(client))} and ${which}; grapevine route list shows the routes there are`);
  }
  return { ...table, routes: rest };
}

export function withDefault(table: RouteTable, cluster: string): RouteTable {
  return { ...table, defaultCluster: cluster };
}

/** 400 unknown_cluster when `cluster` is not one of the frontend's. */
export function checkKnown(cluster: string, clusters: readonly KnownCluster[], frontend: string): KnownCluster {
  const known = clusters.find((c) => c.cluster === cluster);
  if (known) return known;
  const there = clusters.map((c) => c.cluster).join(', ') || 'none';
  throw new GrapevineError('unknown_cluster', `cluster: ${cluster} is not a cluster of the load balancer's frontend ${frontend}; its clusters are ${there}`);
}

/** 409 cluster_retired: a route or the default must not send requests to a cluster out of the load balancer. */
export function checkNotRetired(cluster: string, retired: ReadonlySet<string>): void {
  if (retired.has(cluster)) {
    throw new ConflictError('cluster_retired', `cluster ${cluster} is retired; deploy to it (grapevine deploy --cluster ${cluster}) before routing requests to it`);
  }
}

/** What in the table sends requests to `cluster`, in words; empty when nothing does. */
export function routesTo(table: RouteTable, cluster: string): string[] {
  const routes = table.routes.filter((r) => r.cluster === cluster).map((r) => `route ${r.clientType === undefined ? '' : `${r.clientType} `}${r.client}`);
  return [...(table.defaultCluster === cluster ? ['the default cluster'] : []), ...routes];
}
