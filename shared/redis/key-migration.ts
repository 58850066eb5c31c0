// Keys renamed for Redis Cluster (a shared hash tag where one call writes several) are moved
// to their new names once, by the coordinator at start, so an upgraded fleet keeps its
// credentials. Only a single Redis can hold the old names: a cluster is new, and starts empty.
import { Cluster } from 'ioredis';
import type { Logger } from '../contract/logger.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { RedisClient } from './connection.js';
import { callRedis } from './scripts.js';

/** The credentials' names before they shared the `{credentials}` hash tag. */
export const OLD_CREDENTIAL_KEYS = { credentials: 'gv:auth:credentials', tokenPattern: 'gv:auth:token:*', tokenPrefix: 'gv:auth:token:' } as const;
/** Bounds the SCAN: far more credentials than any fleet issues. */
const MAX_SCAN_ROUNDS = 100_000;

/** Moves credentials kept under their old names; returns how many keys moved (0 on every later start). */
export async function migrateRenamedKeys(redis: RedisClient, logger: Logger): Promise<number> {
  if (redis instanceof Cluster) return 0;
  let moved = 0;
  let cursor = '0';
  for (let round = 0; round < MAX_SCAN_ROUNDS; round++) {
    const [next, keys] = await callRedis('looking for credentials under old names', () => redis.scan(cursor, 'MATCH', OLD_CREDENTIAL_KEYS.tokenPattern, 'COUNT', 1000));
    for (const key of keys) {
      const renamed = redisKeys.credentialByToken(key.slice(OLD_CREDENTIAL_KEYS.tokenPrefix.length));
      // A token already under its new name was written since the upgrade: it stays, the old one goes.
      if ((await callRedis('moving a credential', () => redis.exists(renamed))) === 0) await callRedis('moving a credential', () => redis.rename(key, renamed));
      else await callRedis('moving a credential', () => redis.del(key));
      moved++;
    }
    cursor = next;
    if (cursor === '0') break;
  }
  const [oldList, newList] = await callRedis('looking for the credentials list', () => Promise.all([redis.exists(OLD_CREDENTIAL_KEYS.credentials), redis.exists(redisKeys.credentials())]));
  if (oldList === 1 && newList === 0) {
    await callRedis('moving the credentials list', () => redis.rename(OLD_CREDENTIAL_KEYS.credentials, redisKeys.credentials()));
    moved++;
  }
  if (moved > 0) logger.info({ moved }, 'credentials moved to their hash-tagged key names');
  return moved;
}
