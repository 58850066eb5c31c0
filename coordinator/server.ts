// Runs the coordinator: its Redis store, its own Serf agent (no roles tag, so it is
// never counted as a host), the HTTP API and the watchdog that ends every deploy.
import type { CoordinatorConfig } from '../shared/contract/config.js';
import { within } from '../shared/contract/waiting.js';
import { isLoopbackHost, serveApp, type ServedApp } from '../shared/http/serve-app.js';
import { readServerTls } from '../shared/http/server-tls.js';
import { coordinatorCredentials } from './auth/verified-credentials.js';
import { connectRedis } from '../shared/redis/connection.js';
import { migrateRenamedKeys } from '../shared/redis/key-migration.js';
import { RedisFleetState } from '../shared/redis/fleet-state.js';
import type { Logger } from '../shared/contract/logger.js';
import { SerfAgentProcess } from '../shared/serf/serf-agent-process.js';
import { createApp } from './app.js';
import { RedisDeployStore } from '../shared/redis/deploy-store.js';
import { SerfDeployEvents } from '../shared/serf/deploy-events.js';
import { SerfRpcKeyring } from '../shared/serf/serf-keys.js';
import { DeployWatchdog } from './watchdog.js';
import { ReleasePublisher } from './release-publisher.js';
import { RegistryHttpClient } from '../shared/registry/registry-client.js';
import { allowedRegistries } from '../shared/contract/allowed-registries.js';
import { FleetEventBus } from './fleet-event-bus.js';
import { RedisFleetEventStream } from '../shared/redis/fleet-event-stream.js';
import { EventFeed } from './events/event-feed.js';
import { readNotificationTargets } from '../shared/contract/notification-config.js';
import { Notifier } from './notifications/notifier.js';
import { FleetMetrics } from './metrics/fleet-metrics.js';
import { RedisAuditLog } from '../shared/redis/audit-log.js';
import { auditRecorder } from './audit/audit-recorder.js';
import { RedisColourState } from '../shared/redis/colour-state.js';
import { RedisFlagStore } from '../shared/redis/flag-store.js';
import { RoleStrategyConfig } from '../shared/contract/strategy.js';
import { RelayTraffic } from './strategies/relay-traffic.js';
import { StrategyRunner } from './strategies/strategy-runner.js';
import { RedisRouteStore } from '../shared/redis/route-store.js';
import { RelayRouting } from './routing/relay-routing.js';
import { CoordinatorLease } from './leadership/coordinator-lease.js';
import { RedisLeaseStore } from '../shared/redis/coordinator-lease-store.js';
import { CreateOnce } from './create-once.js';
import { RedisRequestKeys } from '../shared/redis/request-keys.js';
import { CoordinatorGroupLocks } from './leadership/group-lock.js';
import { RedisGroupLockStore } from '../shared/redis/group-lock-store.js';
import { RedisPendingQuarantines } from '../shared/redis/pending-quarantines.js';

/** Requests still open this long after a stop are cut: a client's keep-alive must not hold the exit. */
const SERVER_CLOSE_MS = 1_000;
/** A tick under way waits at most this long; its Redis commands fail on their own timeout anyway. */
const WATCHDOG_STOP_MS = 1_000;
/** A graceful Serf leave that cannot reach anybody is cut short by SIGKILL after this. */
const SERF_LEAVE_MS = 2_000;
/** Notifications still queued get this long to go out on a stop; the rest are logged as unsent. */
const NOTIFIER_STOP_MS = 2_000;

export interface RunningCoordinator {
  url: string;
  stop(): Promise<void>;
}

export async function startCoordinator(config: CoordinatorConfig, logger: Logger): Promise<RunningCoordinator> {
  // A wrong certificate or key stops the start before anything connects, naming the file.
  if (config.tls) readServerTls(config.tls);
  // Webhook URLs and secrets are read from their files before anything connects, as the TLS files are.
  const notificationTargets = readNotificationTargets(config.notifications ?? []);
  const redis = await connectRedis(config.redis, logger);
  await migrateRenamedKeys(redis, logger);

  const serf = new SerfAgentProcess({
    nodeName: config.name,
    serf: config.serf,
    tags: { grapevine: 'coordinator' },
    logger: logger.child({ component: 'serf' }),
  });
  try {
    await serf.start();
  } catch (error) {
    // Left connected, the Redis client would keep the process alive after the failure.
    redis.disconnect();
    throw error;
  }

  const store = new RedisDeployStore({ redis, logger });
  // Every reader of the fleet's events (event stream, audit, notifications, metrics) subscribes here.
  const fleetEvents = new FleetEventBus(logger);
  // Links point at the dashboard: config publicUrl, else this server's own URL once it listens.
  let ownUrl = '';
  const metrics = new FleetMetrics();
  // Of the fleet's coordinators, the lease holder alone runs the watchdog and the strategy runner; both serve every request.
  const lease = new CoordinatorLease({ store: new RedisLeaseStore(redis), name: config.name, ttlMs: config.lease.ttlMs, logger });
  metrics.reportLeadership(() => lease.status());
  fleetEvents.subscribe('metrics', metrics.read);
  const notifier = new Notifier({
    targets: notificationTargets,
    publicUrl: () => config.publicUrl ?? ownUrl,
    logger,
    onDeliveryFailed: (target) => metrics.webhookFailed(target),
  });
  fleetEvents.subscribe('notifications', notifier.read);
  // Not awaited: the API serves at once, and the hosts gauge fills in when the read ends.
  void metrics.replayFrom(store, logger.child({ component: 'metrics' }));
  const auditLog = new RedisAuditLog({ redis, logger, caps: { maxEntries: config.audit.maxEntries, maxAgeMs: config.audit.maxAgeDays * 86_400_000 } });
  fleetEvents.subscribe('audit', auditRecorder(auditLog));
  // The live event stream (GET /v1/events, the dashboard): every event into gv:events, read back by one loop.
  const eventStream = new RedisFleetEventStream({ redis, logger });
  fleetEvents.subscribe('event-stream', async (event) => void (await eventStream.append(event)));
  const eventFeed = new EventFeed({ log: eventStream, logger });
  // Broken marks it sets name the coordinator, as an agent's name the host that failed.
  const fleet = new RedisFleetState({ redis, logger, host: 'coordinator' });
  const deployEvents = new SerfDeployEvents(serf.client);
  // Canary and blue/green: the load balancer through its relay, each group's colours, and the runner of their steps.
  const relay = config.loadBalancer?.relay;
  const traffic = relay ? new RelayTraffic({ ...relay, logger }) : undefined;
  const colours = new RedisColourState(redis);
  const defaults = RoleStrategyConfig.parse({});
  const strategyConfig = (role: string) => config.strategies[role] ?? defaults;
  // Each group's changes (routes, retires, rollouts against catch-ups, strategy steps) under one lock that both coordinators take.
  const groupLocks = new CoordinatorGroupLocks({ store: new RedisGroupLockStore(redis), name: config.name, logger });
  const runner = new StrategyRunner({ store, fleet, traffic, colours, events: deployEvents, fleetEvents, config: strategyConfig, logger, now: Date.now }, { leadership: lease, locks: groupLocks });
  const app = createApp({
    store,
    events: deployEvents,
    membership: serf.client,
    fleet,
    promote: config.promote,
    slots: config.slots,
    deployDeadlineMs: config.deployDeadlineMs,
    token: config.token,
    credentials: coordinatorCredentials(redis, logger),
    publisher: new ReleasePublisher({
      store,
      registry: new RegistryHttpClient(),
      defaultRegistry: config.registry,
      allowed: allowedRegistries(config),
      logger,
      now: Date.now,
    }),
    keyring: new SerfRpcKeyring({ rpc: serf.client.connection }),
    logger,
    fleetEvents,
    eventFeed,
    metrics,
    auditLog,
    strategies: { runner, colours, config: strategyConfig, canDriveLoadBalancer: traffic !== undefined, pendingQuarantines: new RedisPendingQuarantines(redis) },
    quarantineGraceMs: config.quarantine.graceMs,
    routing: {
      store: new RedisRouteStore(redis),
      relay: relay ? new RelayRouting({ ...relay, logger }) : undefined,
      frontendOf: ({ role, env }) => config.routing[role]?.[env]?.frontend,
    },
    flags: new RedisFlagStore({ redis, logger }),
    leadership: () => lease.status(),
    createOnce: new CreateOnce(new RedisRequestKeys(redis), (id) => store.getDeploy(id)),
    groupLocks,
  });

  let server: ServedApp;
  try {
    server = await serveApp({ fetch: app.fetch, host: config.listen.host, port: config.listen.port, tls: config.tls });
  } catch (error) {
    await serf.stop();
    redis.disconnect();
    throw error;
  }
  const watchdog = new DeployWatchdog({ store, membership: serf.client, fleet, deadlineMs: config.deployDeadlineMs, logger, fleetEvents, leadership: lease });
  await lease.start();
  watchdog.start();
  runner.start();
  const { url } = server;
  ownUrl = url;
  logger.info({ url, name: config.name, leader: lease.leading, ...(server.certificateValidTo ? { certificateValidTo: server.certificateValidTo } : {}) }, 'coordinator listening');
  // Tokens cross the network in the clear then: said once at start, where an operator looks.
  if (!server.secure && !isLoopbackHost(config.listen.host)) logger.warn({ url }, 'serving plain HTTP beyond loopback: set tls.certFile and tls.keyFile to serve HTTPS');

  return {
    url,
    // Each step is bounded (about 5 s in all, the first two side by side), whatever is down.
    async stop() {
      // Open event streams end at once (eventFeed.stop, within a second), or they would hold the server's close.
      await Promise.all([eventFeed.stop(), server.close(SERVER_CLOSE_MS), within(watchdog.stop(), WATCHDOG_STOP_MS), within(runner.stop(), WATCHDOG_STOP_MS), notifier.stop(NOTIFIER_STOP_MS)]);
      // The events of the last requests reach the stream and the audit log (their appends wait a few ms to go together).
      await within(fleetEvents.settled(), WATCHDOG_STOP_MS);
      // Given up once the leader-only work stopped, so the other coordinator takes over at once rather than after the TTL.
      await within(lease.stop(), WATCHDOG_STOP_MS);
      await serf.stop(SERF_LEAVE_MS);
      redis.disconnect();
    },
  };
}
