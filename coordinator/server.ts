// Runs the coordinator: its Redis store, its own Serf agent (no roles tag, so it is
// never counted as a host), the HTTP API and the watchdog that ends every deploy.
import { serve } from '@hono/node-server';
import type { CoordinatorConfig } from '../shared/contract/config.js';
import { TIMED_OUT, within } from '../shared/contract/waiting.js';
import { connectRedis } from '../shared/redis/connection.js';
import { RedisFleetState } from '../shared/redis/fleet-state.js';
import type { Logger } from '../shared/contract/logger.js';
import { SerfAgentProcess } from '../shared/serf/serf-agent-process.js';
import { createApp } from './app.js';
import { RedisDeployStore } from '../shared/redis/deploy-store.js';
import { SerfDeployEvents } from '../shared/serf/deploy-events.js';
import { DeployWatchdog } from './watchdog.js';

/** Requests still open this long after a stop are cut: a client's keep-alive must not hold the exit. */
const SERVER_CLOSE_MS = 1_000;
/** A tick under way waits at most this long; its Redis commands fail on their own timeout anyway. */
const WATCHDOG_STOP_MS = 1_000;
/** A graceful Serf leave that cannot reach anybody is cut short by SIGKILL after this. */
const SERF_LEAVE_MS = 2_000;

export interface RunningCoordinator {
  url: string;
  stop(): Promise<void>;
}

export async function startCoordinator(config: CoordinatorConfig, logger: Logger): Promise<RunningCoordinator> {
  const redis = await connectRedis(config.redis, logger);

  const serf = new SerfAgentProcess({
    nodeName: 'grapevine-coordinator',
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
  // Broken marks it sets name the coordinator, as an agent's name the host that failed.
  const fleet = new RedisFleetState({ redis, logger, host: 'coordinator' });
  const app = createApp({
    store,
    events: new SerfDeployEvents(serf.cli),
    membership: serf.cli,
    fleet,
    promote: config.promote,
    slots: config.slots,
    deployDeadlineMs: config.deployDeadlineMs,
    token: config.token,
    registry: config.registry,
    logger,
  });

  const server = serve({ fetch: app.fetch, hostname: config.listen.host, port: config.listen.port });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (error) {
    await serf.stop();
    redis.disconnect();
    throw error;
  }
  const watchdog = new DeployWatchdog({ store, membership: serf.cli, fleet, deadlineMs: config.deployDeadlineMs, logger });
  watchdog.start();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  const url = `http://${config.listen.host}:${port}`;
  logger.info({ url }, 'coordinator listening');

  return {
    url,
    // Each step is bounded (about 4 s in all, the first two side by side), whatever is down.
    async stop() {
      await Promise.all([closeServer(server, SERVER_CLOSE_MS), within(watchdog.stop(), WATCHDOG_STOP_MS)]);
      await serf.stop(SERF_LEAVE_MS);
      redis.disconnect();
    },
  };
}

/** Stops accepting, closes idle keep-alive connections at once and the rest after `graceMs`. */
async function closeServer(server: ReturnType<typeof serve>, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const http = server as Partial<Pick<import('node:http').Server, 'closeIdleConnections' | 'closeAllConnections'>>;
  http.closeIdleConnections?.();
  if ((await within(closed, graceMs)) === TIMED_OUT) {
    http.closeAllConnections?.();
    await within(closed, graceMs);
  }
}
