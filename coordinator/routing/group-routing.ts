// A group's routes kept by the coordinator and applied by the load balancer's relay: each change
// is checked against the frontend's clusters, stored, then the whole table is put to the relay;
// when the relay refuses or does not answer, the stored table is put back as it was. One change
// per group at a time, under the group's lock shared by the coordinators: a put-back never undoes
// a change made meanwhile, and a route set towards a cluster never interleaves with its retire.
// Also retiring a cluster (its servers into maintenance, once nothing routes to it) and reading its usage.
import { ConflictError, GrapevineError, UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { Route, RouteTable, RouteUsage } from '../../shared/contract/routing.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import type { LoadBalancerRouting, RetiredCluster, RouteStore } from '../../shared/ports/route-store.js';
import type { FleetEventPublisher } from '../fleet-event-bus.js';
import type { GroupLocks } from '../leadership/group-lock.js';
import { checkKnown, checkNotRetired, initialTable, routesTo, withDefault, withRoute, withoutRoute, type KnownCluster } from './route-table.js';

export interface GroupRoutingDeps {
  /** The frontend of a group (config `routing.ROLE.ENV.frontend`); undefined for a group without routes. */
  frontendOf: (group: DeployGroup) => string | undefined;
  /** Undefined when the config names no relay (then no group has a frontend: the config refuses it). */
  relay: LoadBalancerRouting | undefined;
  store: RouteStore;
  fleetEvents: FleetEventPublisher;
  /** Each change and retire holds the group's lock, the one both coordinators take. */
  locks: GroupLocks;
  logger: Logger;
  now: () => number;
}

/** `GET /v1/groups/:role/:env/routes`: the table, the frontend's clusters and the retired ones. */
export interface RoutesView extends RouteTable {
  role: string;
  env: string;
  frontend: string;
  clusters: (KnownCluster & { retired: boolean })[];
  retired: RetiredCluster[];
}

interface Routed {
  frontend: string;
  relay: LoadBalancerRouting;
  clusters: KnownCluster[];
}

export class GroupRouting {
  readonly #deps: GroupRoutingDeps;
  readonly #logger: Logger;

  constructor(deps: GroupRoutingDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'routing' });
  }

  async view(group: DeployGroup): Promise<RoutesView> {
    const routed = await this.#routed(group);
    const [stored, retired] = await Promise.all([this.#deps.store.routes(group), this.#deps.store.retired(group)]);
    const table = stored ?? initialTable(routed.clusters, routed.frontend);
    const retiredNames = new Set(retired.map((r) => r.cluster));
    return { ...group, frontend: routed.frontend, ...table, clusters: routed.clusters.map((c) => ({ ...c, retired: retiredNames.has(c.cluster) })), retired };
  }

  setRoute(group: DeployGroup, route: Route, actor: string): Promise<RoutesView> {
    const who = route.clientType === undefined ? '' : `${route.clientType} `;
    return this.#change(group, actor, `route ${who}${route.client} -> ${route.cluster} set`, route.cluster, (table) => withRoute(table, route));
  }

  removeRoute(group: DeployGroup, client: string, clientType: string | undefined, actor: string): Promise<RoutesView> {
    const who = clientType === undefined ? '' : `${clientType} `;
    return this.#change(group, actor, `route ${who}${client} removed`, undefined, (table) => withoutRoute(table, client, clientType));
  }

  setDefault(group: DeployGroup, cluster: string, actor: string): Promise<RoutesView> {
    return this.#change(group, actor, `default cluster set to ${cluster}`, cluster, (table) => withDefault(table, cluster));
  }

  /** Every server of the cluster's backend into maintenance, once no route and not the default points at it. */
  retire(group: DeployGroup, cluster: string, actor: string): Promise<{ role: string; env: string; cluster: string; backend: string; servers: number; at: number }> {
    return this.#deps.locks.hold(group, 'cluster-retire', async (lockLost) => {
      const { store } = this.#deps;
      const routed = await this.#routed(group);
      const known = checkKnown(cluster, routed.clusters, routed.frontend);
      const table = (await store.routes(group)) ?? initialTable(routed.clusters, routed.frontend);
      const pointing = routesTo(table, cluster);
      if (pointing.length > 0) {
        throw new ConflictError('cluster_routed', `cluster ${cluster} still gets requests: ${pointing.join(', ')} points at it; move them first (grapevine route set|rm|default)`);
      }
      const at = this.#deps.now();
      const wasRetired = (await store.retired(group)).some((r) => r.cluster === cluster);
      lockLost.throwIfAborted();
      // Marked first, so no host's reconcile puts a server back between the maintenance and the mark.
      await store.retire(group, { cluster, at, by: actor });
      let servers: { name: string }[];
      try {
        servers = await routed.relay.maintenance(known.backend);
      } catch (error) {
        if (!wasRetired) await this.#putBack(() => store.unretire(group, cluster), group, 'retired mark');
        throw relayFailure(error, `cluster ${cluster} was not retired`);
      }
      this.#logger.warn({ ...group, cluster, backend: known.backend, servers: servers.map((s) => s.name), by: actor }, 'cluster retired: its servers are in maintenance');
      this.#deps.fleetEvents.publish({ kind: 'cluster.retired', at, actor, ...group, cluster, servers: servers.length });
      return { ...group, cluster, backend: known.backend, servers: servers.length, at };
    });
  }

  /** Requests and 5xx answers per cluster over the last `windowMs`, from the relay's traffic read of each backend. */
  async usage(group: DeployGroup, windowMs: number): Promise<RouteUsage> {
    const routed = await this.#routed(group);
    const retired = new Set((await this.#deps.store.retired(group)).map((r) => r.cluster));
    const to = this.#deps.now();
    const from = to - windowMs;
    const clusters = await Promise.all(
      routed.clusters.map(async ({ cluster, backend }) => {
        const servers = await routed.relay.traffic(backend, from, to);
        let requests = 0;
        let errors = 0;
        for (const bucket of servers.flatMap((s) => s.buckets)) {
          requests += bucket.requests;
          errors += bucket.errors;
        }
        return { cluster, backend, requests, errors, retired: retired.has(cluster) };
      }),
    );
    return { ...group, from, to, clusters };
  }

  async #change(group: DeployGroup, actor: string, change: string, target: string | undefined, apply: (table: RouteTable) => RouteTable): Promise<RoutesView> {
    await this.#deps.locks.hold(group, 'route-change', async (lockLost) => {
      const { store } = this.#deps;
      const routed = await this.#routed(group);
      if (target !== undefined) {
        checkKnown(target, routed.clusters, routed.frontend);
        checkNotRetired(target, new Set((await store.retired(group)).map((r) => r.cluster)));
      }
      const previous = await store.routes(group);
      const next = apply(previous ?? initialTable(routed.clusters, routed.frontend));
      lockLost.throwIfAborted();
      await store.saveRoutes(group, next);
      try {
        await routed.relay.applyRoutes(routed.frontend, next);
      } catch (error) {
        await this.#putBack(() => store.saveRoutes(group, previous), group, 'route table');
        throw relayFailure(error, 'the routes were put back as they were');
      }
      this.#logger.info({ ...group, frontend: routed.frontend, change, by: actor, routes: next.routes.length, defaultCluster: next.defaultCluster }, 'routes changed');
      this.#deps.fleetEvents.publish({ kind: 'routes.changed', at: this.#deps.now(), actor, ...group, change, routes: next });
    });
    return this.view(group);
  }

  /** The group's frontend and its clusters as the relay knows them; 409 routing_unavailable for a group without routing. */
  async #routed(group: DeployGroup): Promise<Routed> {
    const frontend = this.#deps.frontendOf(group);
    const { relay } = this.#deps;
    if (frontend === undefined || relay === undefined) {
      throw new ConflictError(
        'routing_unavailable',
        `${group.role}/${group.env} has no routes: the coordinator's config sets no routing.${group.role}.${group.env}.frontend (with loadBalancer.relay)`,
      );
    }
    let answer: { clusters: KnownCluster[] };
    try {
      answer = await relay.frontend(frontend);
    } catch (error) {
      throw relayFailure(error, 'nothing was changed');
    }
    return { frontend, relay, clusters: answer.clusters };
  }

  async #putBack(restore: () => Promise<unknown>, group: DeployGroup, what: string): Promise<void> {
    try {
      await restore();
    } catch (error) {
      // Redis failing twice in a row: the next change or read shows what is stored; say it loudly.
      this.#logger.error({ ...group, err: errorMessage(error) }, `could not put the ${what} back after the relay failed`);
    }
  }
}

/** The relay's error, saying what became of the change; its code keeps the status (502 refused or unreachable, 504 timed out). */
function relayFailure(error: unknown, outcome: string): unknown {
  if (!(error instanceof GrapevineError)) return error;
  if (error instanceof UnreachableError) return new UnreachableError(`${error.message}; ${outcome}`, { cause: error });
  if (error.code === 'lb_relay_refused' || error.code === 'lb_relay_timed_out') return new GrapevineError(error.code, `${error.message}; ${outcome}`, { cause: error });
  return error;
}
