// The coordinators' per-group lock in Redis: one key holding the holder's token with a PX,
// taken with SET NX, renewed and released only by the token that holds it.
import type { RedisClient as Redis } from './connection.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { DeployGroup } from '../ports/fleet-state.js';
import type { GroupLockAttempt, GroupLockStore } from '../ports/group-lock.js';
import { RedisScripts } from './scripts.js';

export class RedisGroupLockStore implements GroupLockStore {
  readonly #scripts: RedisScripts;

  constructor(redis: Redis) {
    this.#scripts = RedisScripts.for(redis);
  }

  take({ role, env }: DeployGroup, token: string, ttlMs: number): Promise<GroupLockAttempt> {
    return this.#scripts.run('takeGroupLock', [redisKeys.groupLock(role, env)], [token, ttlMs], `the lock of ${role}/${env}`);
  }

  async renew({ role, env }: DeployGroup, token: string, ttlMs: number): Promise<boolean> {
    return (await this.#scripts.run('renewLease', [redisKeys.groupLock(role, env)], [token, ttlMs], `the lock of ${role}/${env}`)) === 'renewed';
  }

  release({ role, env }: DeployGroup, token: string): Promise<boolean> {
    return this.#scripts.run('deleteIfHeld', [redisKeys.groupLock(role, env)], [token], `the lock of ${role}/${env}`);
  }
}
