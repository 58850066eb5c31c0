// The Redis client agents and the coordinator share, for one server, a Redis Cluster or a
// primary behind Sentinels alike: it reconnects by itself forever with bounded backoff, fails
// a command after a few seconds so the caller's own retries and deadlines decide, and logs an
// outage once when it starts and once when it ends.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { UnreachableError, errorMessage } from '../contract/errors.js';
import type { Logger } from '../contract/logger.js';
import { credentialsOf, describeRedisSetting, redisTarget, type RedisSetting } from '../contract/redis-config.js';

export { redactedRedisUrl } from '../contract/redis-config.js';

/** One server or a whole cluster: the commands, scripts and transactions Grapevine uses work on both. */
export type RedisClient = Redis | Cluster;

const FIRST_RECONNECT_MS = 100;
const MAX_RECONNECT_MS = 2_000;
/** A command queued while Redis is away, or unanswered on a dead socket, fails after this. */
export const REDIS_COMMAND_TIMEOUT_MS = 3_000;
const CONNECT_TIMEOUT_MS = 5_000;

/** Delay before reconnection attempt `attempt` (1-based): 100 ms doubling up to 2 s, for ever. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(FIRST_RECONNECT_MS * 2 ** Math.max(0, attempt - 1), MAX_RECONNECT_MS);
}

/** What every connection to a node gets, whichever shape the setting has. */
const NODE_OPTIONS = {
  // Commands wait through reconnections (no count of tries) but never past the timeout.
  maxRetriesPerRequest: null,
  commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
  connectTimeout: CONNECT_TIMEOUT_MS,
  // CLIENT SETINFO: unknown to Redis 7.0 and outside what Grapevine's ACL users may run.
  disableClientInfo: true,
} satisfies RedisOptions;

/**
 * Connects as `setting` says; rejects with UnreachableError if the first connection fails,
 * leaving nothing open. A bare URL string is one server, as before.
 */
export async function connectRedis(setting: RedisSetting, logger: Logger): Promise<RedisClient> {
  const log = logger.child({ component: 'redis' });
  const client = newClient(setting);
  let downSince: number | undefined;
  const down = (error: Error) => {
    if (downSince !== undefined) return;
    downSince = Date.now();
    log.warn({ err: error.message }, 'redis unreachable; reconnecting in the background');
  };
  client.on('error', down);
  // A cluster reports a node it cannot reach here, not as the client's own error.
  client.on('node error', (error: Error) => down(error));
  client.on('ready', () => {
    if (downSince === undefined) return;
    log.info({ downMs: Date.now() - downSince }, 'redis reachable again');
    downSince = undefined;
  });
  // A Sentinel's promotion of a replica: worth one line, it is when writes may have been lost.
  client.on('+switch-master', () => log.warn('redis primary switched by Sentinel'));
  try {
    await client.connect();
  } catch (error) {
    // Left reconnecting, the client would keep the process alive after the failure.
    client.disconnect();
    throw new UnreachableError(`cannot connect to Redis (${describeRedisSetting(setting)}): ${errorMessage(error)}`, { cause: error });
  }
  return client;
}

function newClient(setting: RedisSetting): RedisClient {
  const target = redisTarget(setting);
  if (target.kind === 'single') return new Redis(target.url, { ...NODE_OPTIONS, lazyConnect: true, retryStrategy: reconnectDelayMs });
  if (target.kind === 'cluster') {
    const { user, password, tls } = credentialsOf(target.urls[0]!);
    const nodes = target.urls.map((url) => ({ host: new URL(url).hostname.replace(/^\[|\]$/g, ''), port: Number(new URL(url).port || 6379) }));
    return new Cluster(nodes, {
      lazyConnect: true,
      clusterRetryStrategy: reconnectDelayMs,
      // A command's MOVED/ASK replies and a failover's CLUSTERDOWN are retried within the command timeout.
      maxRedirections: 16,
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      redisOptions: { ...NODE_OPTIONS, username: user, password, ...(tls ? { tls: {} } : {}) },
    });
  }
  const { sentinels, name, user, password, sentinelUser, sentinelPassword, tls } = target.setting;
  return new Redis({
    ...NODE_OPTIONS,
    lazyConnect: true,
    retryStrategy: reconnectDelayMs,
    sentinels: sentinels.map((address) => {
      const at = address.lastIndexOf(':');
      return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
    }),
    name,
    role: 'master',
    username: user,
    password,
    sentinelUsername: sentinelUser,
    sentinelPassword,
    sentinelRetryStrategy: reconnectDelayMs,
    // Told of a promotion by the Sentinels at once, not by the old primary's socket timing out.
    failoverDetector: true,
    ...(tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  });
}

/** A second connection with the same target and credentials, for a blocking read that would stall the shared one. */
export function duplicateRedis(client: RedisClient, overrides: RedisOptions): RedisClient {
  if (client instanceof Cluster) {
    // A cluster takes its per-node options under redisOptions; the offline queue is the cluster's own.
    const { enableOfflineQueue, ...nodeOverrides } = overrides;
    return client.duplicate(undefined, {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      redisOptions: { ...client.options.redisOptions, ...nodeOverrides },
    });
  }
  return client.duplicate(overrides);
}

/**
 * The servers holding data: every master of a cluster, or the one client itself. A SCAN or a
 * count across groups must ask each, since a cluster node answers only for its own slots.
 */
export function dataNodes(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * How many replicas the server that holds `key` has now (0 without any, or on a cluster
 * master without replicas): where a write must wait for one before a promise rests on it.
 */
export async function replicasOf(client: RedisClient, key: string): Promise<number> {
  const info = (await client.call('INFO', 'replication')) as string;
  void key;
  const match = /^connected_slaves:(\d+)/m.exec(info);
  return match ? Number(match[1]) : 0;
}
