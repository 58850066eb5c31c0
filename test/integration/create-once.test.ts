// Deploys created once per idempotency key (coordinator/create-once.ts) over a real
// redis-server, as two coordinators would share it: a repeat, even one sent at the same time
// to the other coordinator, gets the first deploy; a create that failed lets a repeat run.
import { describe, expect, it } from 'vitest';
import { CreateOnce } from '../../coordinator/create-once.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { RedisRequestKeys } from '../../shared/redis/request-keys.js';
import { redisClientsForThisFile } from '../fixtures/redis-server.js';

const client = redisClientsForThisFile();

/** Two coordinators' CreateOnce over one Redis and one "store" of the deploys they created. */
function coordinators() {
  const created = new Map<string, Deploy>();
  let made = 0;
  const create = async () => {
    made += 1;
    const deploy = { id: `d-once000${made}`, role: 'web', env: 'production', tag: 'v2', image: 'r/web:v2', status: 'in_progress', createdAt: made, hosts: {} } as Deploy;
    created.set(deploy.id, deploy);
    return deploy;
  };
  const read = async (id: string) => created.get(id);
  return { a: new CreateOnce(new RedisRequestKeys(client()), read), b: new CreateOnce(new RedisRequestKeys(client()), read), create, made: () => made };
}

describe('deploys created once per idempotency key', () => {
  it('a repeat on the other coordinator gets the first deploy; a new key creates another', async () => {
    const { a, b, create, made } = coordinators();
    const key = '6f1c2a9e-0000-4000-8000-000000000001';
    const first = await a.run(key, create);
    expect((await b.run(key, create)).id).toBe(first.id);
    expect(made()).toBe(1);
    expect(await client().get(redisKeys.createdByRequest(key))).toBe(first.id);
    expect(await client().pttl(redisKeys.createdByRequest(key))).toBeGreaterThan(23 * 60 * 60_000);
    await b.run('6f1c2a9e-0000-4000-8000-000000000002', create);
    expect(made()).toBe(2);
  });

  it('two calls with one key at the same time, one per coordinator: one deploy, both answered with it', async () => {
    const { a, b, create, made } = coordinators();
    const key = '6f1c2a9e-0000-4000-8000-000000000003';
    const [one, two] = await Promise.all([a.run(key, create), b.run(key, create)]);
    expect(one.id).toBe(two.id);
    expect(made()).toBe(1);
  });

  it('a create that failed lets the key go: the repeat creates; a malformed key is refused naming the header', async () => {
    const { a, b, create, made } = coordinators();
    const key = '6f1c2a9e-0000-4000-8000-000000000004';
    await expect(a.run(key, async () => Promise.reject(new Error('serf did not answer')))).rejects.toThrow('serf did not answer');
    expect(await client().exists(redisKeys.createdByRequest(key))).toBe(0);
    await b.run(key, create);
    expect(made()).toBe(1);
    await expect(a.run('no spaces allowed', create)).rejects.toThrow(/header idempotency-key/);
    expect(made()).toBe(1);
  });
});
