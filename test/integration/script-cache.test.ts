// Scripts go by their SHA1 and only in full when Redis does not hold them: a server that
// lost its scripts (a restart, SCRIPT FLUSH) still runs every call once, and a connection
// new to the server sends the source no more, whoever loaded it.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisScripts } from '../../shared/redis/scripts.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const redis = redisForThisFile();
const opened: Redis[] = [];
afterAll(() => opened.forEach((client) => client.disconnect()));

/** A connection of its own, as an agent that just started has. */
function newConnection(): Redis {
  const client = redis.client.duplicate();
  opened.push(client);
  return client;
}

/** Runs the compare-and-delete script on `client` and says whether it deleted the key. */
async function deleteIfHeld(client: Redis, key: string, token: string): Promise<boolean> {
  return RedisScripts.for(client).run('deleteIfHeld', [key], [token]);
}

/** The EVAL and EVALSHA commands Redis has run so far. */
async function evalCounts(): Promise<{ eval: number; evalsha: number }> {
  const stats = await redis.client.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

describe('script cache', () => {
  it('runs a script Redis has forgotten, and sends the source once for all connections', async () => {
    const key = 'gv:script-cache:held';
    await redis.client.script('FLUSH');
    await redis.client.config('RESETSTAT');
    await redis.client.set(key, 'a');
    // Redis holds no script: the first call is refused by SHA and runs in full.
    expect(await deleteIfHeld(newConnection(), key, 'a')).toBe(true);
    expect(await redis.client.exists(key)).toBe(0);
    expect(await evalCounts()).toEqual({ eval: 1, evalsha: 1 });
    // Three connections new to the server: by SHA alone.
    for (const token of ['b', 'c', 'd']) {
      await redis.client.set(key, token);
      expect(await deleteIfHeld(newConnection(), key, token)).toBe(true);
    }
    expect(await evalCounts()).toEqual({ eval: 1, evalsha: 4 });
    // Forgotten again, as after a restart: the same connection sends it in full once more.
    const client = newConnection();
    await redis.client.script('FLUSH');
    await redis.client.set(key, 'e');
    expect(await deleteIfHeld(client, key, 'wrong')).toBe(false);
    expect(await deleteIfHeld(client, key, 'e')).toBe(true);
    expect(await evalCounts()).toEqual({ eval: 2, evalsha: 6 });
  });
});
