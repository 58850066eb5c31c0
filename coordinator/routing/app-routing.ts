// Mounts red-white routing on the coordinator's app: the one entry app.ts calls.
import type { Hono } from 'hono';
import type { Logger } from '../../shared/contract/logger.js';
import type { RouteStore } from '../../shared/ports/route-store.js';
import type { CoordinatorEnv } from '../auth/authenticate.js';
import type { HostAccess } from '../auth/host-access.js';
import type { FleetEventPublisher } from '../fleet-event-bus.js';
import type { GroupLocks } from '../leadership/group-lock.js';
import { GroupRouting, type GroupRoutingDeps } from './group-routing.js';
import { registerRoutingRoutes } from './routing-routes.js';

/**
 * What coordinator/server.ts gives: the config's frontends, the relay (none without
 * loadBalancer.relay) and the store; `now` only where the app's clock is not the load
 * balancer's (a test's clock that stands still), since a usage window is read in real time.
 */
export type AppRouting = Pick<GroupRoutingDeps, 'frontendOf' | 'relay'> & { store: RouteStore; now?: () => number };

export function registerRouting(app: Hono<CoordinatorEnv>, deps: AppRouting & { hosts: HostAccess; fleetEvents: FleetEventPublisher; locks: GroupLocks; logger: Logger; now: () => number }): GroupRouting {
  const routing = new GroupRouting(deps);
  registerRoutingRoutes(app, { routing, store: deps.store, hosts: deps.hosts });
  return routing;
}
