// Runs the coordinator: its Redis store, its own Serf agent (no roles tag, so it is
// never counted as a host), the HTTP API and the watchdog that ends every deploy.
import { serve } from '@hono/node-server';
import { Redis } from 'ioredis';
import type { CoordinatorConfig } from '../shared/contract/config.js';
import { RedisFleetState } from '../shared/redis/fleet-state.js';
import type { Logger } from '../shared/contract/logger.js';
import { SerfAgentProcess } from '../shared/serf/serf-agent-process.js';
import { createApp } from './app.js';
import { RedisDeployStore } from '../shared/redis/deploy-store.js';
import { SerfDeployEvents } from '../shared/serf/deploy-events.js';
import { DeployWatchdog } from './watchdog.js';

export interface RunningCoordinator {
  url: string;
  stop(): Promise<void>;
}

export async function startCoordinator(config: CoordinatorConfig, logger: Logger): Promise<RunningCoordinator> {
  const redis = new Redis(config.redis, { maxRetriesPerRequest: 3, lazyConnect: true });
  redis.on('error', (error) => logger.warn({ err: error.message }, 'redis connection error'));
  await redis.connect();

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
    async stop() {
      await watchdog.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await serf.stop();
      redis.disconnect();
    },
  };
}
