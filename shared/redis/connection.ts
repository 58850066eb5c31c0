// The Redis client agents and the coordinator share: it reconnects by itself forever with
// bounded backoff, fails a command after a few seconds so the caller's own retries and
// deadlines decide, and logs an outage once when it starts and once when it ends.
import { Redis } from 'ioredis';
import { UnreachableError, errorMessage } from '../contract/errors.js';
import type { Logger } from '../contract/logger.js';

const FIRST_RECONNECT_MS = 100;
const MAX_RECONNECT_MS = 2_000;
/** A command queued while Redis is away, or unanswered on a dead socket, fails after this. */
export const REDIS_COMMAND_TIMEOUT_MS = 3_000;
const CONNECT_TIMEOUT_MS = 5_000;

/** Delay before reconnection attempt `attempt` (1-based): 100 ms doubling up to 2 s, for ever. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(FIRST_RECONNECT_MS * 2 ** Math.max(0, attempt - 1), MAX_RECONNECT_MS);
}

/** Connects to `url`; rejects with UnreachableError if the first connection fails, leaving nothing open. */
export async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const log = logger.child({ component: 'redis' });
  const redis = new Redis(url, {
    lazyConnect: true,
    retryStrategy: reconnectDelayMs,
    // Commands wait through reconnections (no count of tries) but never past the timeout.
    maxRetriesPerRequest: null,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // CLIENT SETINFO: unknown to Redis 7.0 and outside what Grapevine's ACL users may run.
    disableClientInfo: true,
  });
  let downSince: number | undefined;
  redis.on('error', (error: Error) => {
    if (downSince !== undefined) return;
    downSince = Date.now();
    log.warn({ err: error.message }, 'redis unreachable; reconnecting in the background');
  });
  redis.on('ready', () => {
    if (downSince === undefined) return;
    log.info({ downMs: Date.now() - downSince }, 'redis reachable again');
    downSince = undefined;
  });
  try {
    await redis.connect();
  } catch (error) {
    // Left reconnecting, the client would keep the process alive after the failure.
    redis.disconnect();
    throw new UnreachableError(`cannot connect to Redis at ${redactedRedisUrl(url)}: ${errorMessage(error)}`, { cause: error });
  }
  return redis;
}

/** The URL with its password replaced, the only form of a Redis URL that may reach a log or an error. */
export function redactedRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(a Redis URL that does not parse)';
  }
}
