// Pending quarantines in one Redis hash (group and tag -> JSON entry): HDEL is the claim, so
// of the coordinator whose timer fired and the leader taking over a dead one's, one acts.
import type { RedisClient } from './connection.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { PendingQuarantine, PendingQuarantines } from '../ports/pending-quarantines.js';
import { callRedis } from './scripts.js';

const fieldOf = ({ role, env, tag }: PendingQuarantine) => `${role}/${env}/${tag}`;

export class RedisPendingQuarantines implements PendingQuarantines {
  constructor(private readonly redis: RedisClient) {}

  async add(entry: PendingQuarantine): Promise<void> {
    await callRedis('recording a pending quarantine', () => this.redis.hset(redisKeys.pendingQuarantines(), fieldOf(entry), JSON.stringify(entry)));
  }

  async all(): Promise<PendingQuarantine[]> {
    const stored = await callRedis('reading the pending quarantines', () => this.redis.hgetall(redisKeys.pendingQuarantines()));
    const entries: PendingQuarantine[] = [];
    for (const value of Object.values(stored)) {
      try {
        const entry = JSON.parse(value) as PendingQuarantine;
        if (typeof entry.role === 'string' && typeof entry.env === 'string' && typeof entry.tag === 'string' && typeof entry.since === 'number' && typeof entry.dueAt === 'number') entries.push(entry);
      } catch {
        // Not ours to read: left for an operator, never acted on.
      }
    }
    return entries;
  }

  async claim(entry: PendingQuarantine): Promise<boolean> {
    return (await callRedis('claiming a pending quarantine', () => this.redis.hdel(redisKeys.pendingQuarantines(), fieldOf(entry)))) === 1;
  }
}
