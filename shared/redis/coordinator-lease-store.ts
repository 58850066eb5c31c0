// The coordinators' lease in Redis: one key holding the holder's token with a PX, and an
// epoch counter in the same hash tag that every take increments (the fencing number).
import type { RedisClient as Redis } from './connection.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { LeaseAttempt, LeaseStore } from '../ports/coordinator-lease.js';
import { callRedis, RedisScripts } from './scripts.js';

export class RedisLeaseStore implements LeaseStore {
  readonly #redis: Redis;
  readonly #scripts: RedisScripts;

  constructor(redis: Redis) {
    this.#redis = redis;
    this.#scripts = RedisScripts.for(redis);
  }

  hold(token: string, ttlMs: number): Promise<LeaseAttempt> {
    return this.#scripts.run('holdLease', [redisKeys.coordinatorLease(), redisKeys.coordinatorLeaseEpoch()], [token, ttlMs], 'the coordinators\' lease');
  }

  async holder(): Promise<string | undefined> {
    const token = await callRedis("reading the coordinators' lease", () => this.#redis.get(redisKeys.coordinatorLease()));
    return token ?? undefined;
  }

  drop(token: string): Promise<boolean> {
    return this.#scripts.run('deleteIfHeld', [redisKeys.coordinatorLease()], [token], 'the coordinators\' lease');
  }
}
