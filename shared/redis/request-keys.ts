// Idempotency keys of creates in Redis: `pending` (SET NX PX, short) while a create runs, then
// the id it created (kept a day). Each is one key, so no script is needed.
import type { RedisClient } from './connection.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { KeyClaim, RequestKeys } from '../ports/request-keys.js';
import { callRedis } from './scripts.js';

const PENDING = 'pending';

export class RedisRequestKeys implements RequestKeys {
  constructor(private readonly redis: RedisClient) {}

  async claim(key: string, pendingMs: number): Promise<KeyClaim> {
    const name = redisKeys.createdByRequest(key);
    const set = await callRedis('claiming an idempotency key', () => this.redis.set(name, PENDING, 'PX', pendingMs, 'NX'));
    if (set === 'OK') return { kind: 'claimed' };
    const value = await callRedis('reading an idempotency key', () => this.redis.get(name));
    // Gone between the two calls: the create before it failed and let it go; claim again.
    if (value === null) return this.claim(key, pendingMs);
    return value === PENDING ? { kind: 'pending' } : { kind: 'created', id: value };
  }

  async record(key: string, id: string, keepMs: number): Promise<void> {
    await callRedis('recording an idempotency key', () => this.redis.set(redisKeys.createdByRequest(key), id, 'PX', keepMs));
  }

  async release(key: string): Promise<void> {
    await callRedis('releasing an idempotency key', () => this.redis.del(redisKeys.createdByRequest(key)));
  }
}
