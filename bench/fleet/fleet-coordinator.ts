// The fleet bench's coordinator process: the real HTTP app over the real Redis stores,
// wired as coordinator/server.ts wires the parts a rolling deploy goes through (deploy
// store, fleet state, credentials, the fleet's event stream, audit and metrics, the
// watchdog), with two stand-ins for Serf: a membership of the simulated hosts, all alive,
// and an event sink that hands the `deploy` event to the bench, which hands it to the
// workers. Its own CPU and memory are what the bench reports as the coordinator's.
// A process entry: nothing imports it (its listeners would take over the importer).
import pino from 'pino';
import type { RedisClient } from '../../shared/redis/connection.js';
import { createApp } from '../../coordinator/app.js';
import { FleetEventBus } from '../../coordinator/fleet-event-bus.js';
import { EventFeed } from '../../coordinator/events/event-feed.js';
import { FleetMetrics } from '../../coordinator/metrics/fleet-metrics.js';
import { auditRecorder } from '../../coordinator/audit/audit-recorder.js';
import { ReleasePublisher } from '../../coordinator/release-publisher.js';
import { DeployWatchdog } from '../../coordinator/watchdog.js';
import { connectRedis } from '../../shared/redis/connection.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { WindowProfile } from './window-profile.js';
import { coordinatorCredentials } from '../../coordinator/auth/verified-credentials.js';
import { RedisAuditLog } from '../../shared/redis/audit-log.js';
import { RedisFleetEventStream } from '../../shared/redis/fleet-event-stream.js';
import { serveApp, type ServedApp } from '../../shared/http/serve-app.js';
import { errorMessage } from '../../shared/contract/errors.js';
import type { DeployEventPayload } from '../../shared/contract/schemas.js';
import type { DeployEvents } from '../../shared/ports/membership.js';
import { SimulatedMembership } from './simulated-membership.js';
import type { ImageRegistry } from '../../shared/ports/image-registry.js';
import { freePort } from '../../dev-cluster/free-port.js';
import { FLEET_REGISTRY, type CoordinatorCommand, type CoordinatorReply, type CoordinatorStart } from './fleet-messages.js';

/** Host credentials created this many at a time: the store's script per host, not a burst of 10 000. */
const CREDENTIAL_CONCURRENCY = 64;
const RSS_SAMPLE_MS = 500;
const DEADLINE_MS = 30 * 60_000;

/** Every image resolves to one digest: the registry is not what the bench measures. */
const pinnedRegistry: ImageRegistry = {
  async manifestDigest() {
    return `sha256:${'ab'.repeat(32)}`;
  },
};

function send(reply: CoordinatorReply): void {
  process.send?.(reply);
}

async function start(command: CoordinatorStart): Promise<{ redis: RedisClient; server: ServedApp; watchdog: DeployWatchdog | undefined; feed: EventFeed }> {
  const logger = pino({ level: 'warn', redact: ['token', '*.token'] }, pino.destination({ dest: command.logFile, sync: false }));
  const redis = await connectRedis(command.redisUrl, logger);
  const store = new RedisDeployStore({ redis, logger });
  const fleet = new RedisFleetState({ redis, logger, host: 'coordinator' });
  const credentials = coordinatorCredentials(redis, logger);
  const fleetEvents = new FleetEventBus(logger);
  const metrics = new FleetMetrics();
  fleetEvents.subscribe('metrics', metrics.read);
  const auditLog = new RedisAuditLog({ redis, logger, caps: { maxEntries: 100_000, maxAgeMs: 90 * 86_400_000 } });
  fleetEvents.subscribe('audit', auditRecorder(auditLog));
  const eventStream = new RedisFleetEventStream({ redis, logger });
  fleetEvents.subscribe('event-stream', async (event) => void (await eventStream.append(event)));
  const feed = new EventFeed({ log: eventStream, logger });
  const membership = new SimulatedMembership(command.hosts, command.warmUpHosts);
  const events: DeployEvents = {
    async fireDeploy(payload: DeployEventPayload) {
      send({ type: 'deploy-event', payload, firedAt: Date.now() });
    },
    async fireRetire() {},
  };
  const app = createApp({
    store,
    events,
    membership,
    fleet,
    deployDeadlineMs: DEADLINE_MS,
    token: command.token,
    credentials,
    publisher: new ReleasePublisher({ store, registry: pinnedRegistry, defaultRegistry: FLEET_REGISTRY, allowed: [{ address: FLEET_REGISTRY, plainHttp: true }], logger, now: Date.now }),
    logger,
    fleetEvents,
    eventFeed: feed,
    metrics,
    auditLog,
  });
  // A second coordinator finds the credentials the first made in Redis.
  const names = command.second ? [] : [...command.hosts, ...command.warmUpHosts];
  const tokens = new Array<string>(names.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: CREDENTIAL_CONCURRENCY }, async () => {
      for (let i = next++; i < names.length; i = next++) {
        const host = names[i] as string;
        tokens[i] = (await credentials.create({ scope: 'host', host, name: host, createdBy: 'fleet-bench' })).token;
      }
    }),
  );
  // Counted by kind, so the table can say what each host asks of the coordinator.
  const server = await serveApp({
    fetch: (request) => {
      // The URL's path ends before its query; parsing the whole URL would be the bench's cost, not the coordinator's.
      const kind = requestKind(request.url.split('?', 1)[0] as string);
      requests[kind] = (requests[kind] ?? 0) + 1;
      return app.fetch(request);
    },
    host: '127.0.0.1',
    port: await freePort(),
  });
  // The lease holder's work: one watchdog for the fleet, on the first coordinator.
  const watchdog = command.second ? undefined : new DeployWatchdog({ store, membership, fleet, deadlineMs: DEADLINE_MS, logger, fleetEvents });
  watchdog?.start();
  send({ type: 'ready', url: server.url, hostTokens: tokens.slice(0, command.hosts.length), warmUpTokens: tokens.slice(command.hosts.length) });
  return { redis, server, watchdog, feed };
}

const requests: Record<string, number> = {};

/** A host's lookup of its view, a report, or anything else. */
function requestKind(path: string): 'view' | 'report' | 'other' {
  if (path.endsWith('/reports')) return 'report';
  if (path.endsWith('/host-view')) return 'view';
  return 'other';
}

let rssPeak = 0;
const sampleRss = () => void (rssPeak = Math.max(rssPeak, process.memoryUsage.rss()));
const rssTimer = setInterval(sampleRss, RSS_SAMPLE_MS);
let running: Awaited<ReturnType<typeof start>> | undefined;
const profile = new WindowProfile(process.env.GRAPEVINE_BENCH_PROFILE_DIR);
let profiled: Promise<void> = Promise.resolve();

process.on('message', (command: CoordinatorCommand) => {
  if (command.type === 'start') {
    start(command).then(
      (started) => void (running = started),
      (error: unknown) => send({ type: 'failed', message: errorMessage(error) }),
    );
  } else if (command.type === 'sample') {
    sampleRss();
    const cpu = process.cpuUsage();
    send({ type: 'sample', cpuMicros: cpu.user + cpu.system, rssPeakBytes: rssPeak, requests: { ...requests } });
    rssPeak = 0;
    profiled = profile.mark();
  } else {
    clearInterval(rssTimer);
    const stopping = Promise.all([profiled.catch(() => undefined), ...(running ? [running.feed.stop(), running.server.close(500), running.watchdog?.stop()] : [])]);
    void stopping.finally(() => {
      running?.redis.disconnect();
      process.exit(0);
    });
  }
});
// The bench is the only reason to live: when its channel closes, so does this process.
process.on('disconnect', () => process.exit(0));
