// Scoped credentials on a real Redis: what is kept (hashes only), what a token verifies to,
// expiry, revocation, and that verifying needs nothing but read access to gv:auth:*.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { actorOf } from '../../shared/ports/credentials.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const redis = redisForThisFile();
let clock = 1_700_000_000_000;
let store: RedisCredentialStore;

beforeAll(() => {
  store = new RedisCredentialStore({ redis: redis.client, logger: silent, now: () => clock });
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('RedisCredentialStore', () => {
  it('creates a random gv_ token, keeps only its SHA-256, and verifies it to the credential', async () => {
    const { credential, token } = await store.create({ scope: 'deployer', name: 'ci-web', createdBy: 'operator bootstrap (config)' });
    expect(token).toMatch(/^gv_[A-Za-z0-9_-]{43}$/);
    expect(credential).toEqual({ id: expect.stringMatching(/^t-[a-f0-9]{8}$/), scope: 'deployer', name: 'ci-web', createdAt: clock, createdBy: 'operator bootstrap (config)' });
    expect(actorOf(credential)).toBe(`deployer ci-web (${credential.id})`);
    expect(await store.verify(token)).toEqual(credential);

    // Nothing in Redis holds the token itself.
    const keys = await redis.client.keys('gv:auth:*');
    expect(keys.sort()).toEqual([redisKeys.credentials(), redisKeys.credentialByToken(sha256(token))].sort());
    for (const key of keys) {
      const dump = key === redisKeys.credentials() ? JSON.stringify(await redis.client.hgetall(key)) : await redis.client.get(key);
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(token.slice(3));
    }
  });

  it('gives two credentials different tokens and ids', async () => {
    const a = await store.create({ scope: 'viewer', name: 'dash', createdBy: 'x' });
    const b = await store.create({ scope: 'viewer', name: 'dash', createdBy: 'x' });
    expect(a.token).not.toBe(b.token);
    expect(a.credential.id).not.toBe(b.credential.id);
  });

  it('verifies nothing for an unknown, malformed or empty token, without asking Redis for a malformed one', async () => {
    expect(await store.verify(`gv_${'A'.repeat(43)}`)).toBeUndefined();
    expect(await store.verify('')).toBeUndefined();
    expect(await store.verify('not-a-token')).toBeUndefined();
    const { token } = await store.create({ scope: 'viewer', name: 'v', createdBy: 'x' });
    expect(await store.verify(`${token}x`)).toBeUndefined();
    expect(await store.verify(token.slice(0, -1))).toBeUndefined();
  });

  it('keeps a host credential to its host', async () => {
    const { credential, token } = await store.create({ scope: 'host', host: 'h1', name: 'h1', createdBy: 'x' });
    expect(await store.verify(token)).toMatchObject({ scope: 'host', host: 'h1', id: credential.id });
    expect(actorOf(credential)).toBe(`host h1 (${credential.id})`);
  });

  it('expires a credential at its time: the key has a Redis expiry, and verify refuses it past expiresAt', async () => {
    const { credential, token } = await store.create({ scope: 'deployer', name: 'short', createdBy: 'x', expiresAt: clock + 30 * 60_000 });
    const ttl = await redis.client.pttl(redisKeys.credentialByToken(sha256(token)));
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThanOrEqual(30 * 60_000);
    expect(await store.verify(token)).toMatchObject({ id: credential.id, expiresAt: clock + 30 * 60_000 });
    expect((await store.list()).map((c) => c.id)).toContain(credential.id);

    clock += 30 * 60_000;
    expect(await store.verify(token)).toBeUndefined();
    // Listing drops it for good.
    expect((await store.list()).map((c) => c.id)).not.toContain(credential.id);
    expect(await redis.client.hget(redisKeys.credentials(), credential.id)).toBeNull();
  });

  it('refuses a credential that would expire before it is created', async () => {
    await expect(store.create({ scope: 'viewer', name: 'past', createdBy: 'x', expiresAt: clock })).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('lists credentials oldest first without any token or hash, and revokes one by id', async () => {
    await redis.client.del(redisKeys.credentials());
    const first = await store.create({ scope: 'operator', name: 'alice', createdBy: 'x' });
    clock += 1;
    const second = await store.create({ scope: 'host', host: 'h2', name: 'h2', createdBy: 'x' });
    const listed = await store.list();
    expect(listed).toEqual([first.credential, second.credential]);
    expect(JSON.stringify(listed)).not.toMatch(/gv_|[a-f0-9]{64}/);

    expect(await store.revoke(first.credential.id)).toBe(true);
    expect(await store.verify(first.token)).toBeUndefined();
    expect(await store.list()).toEqual([second.credential]);
    expect(await store.verify(second.token)).toEqual(second.credential);
    expect(await store.revoke(first.credential.id)).toBe(false);
    expect(await store.revoke('t-00000000')).toBe(false);
  });

  it('verifies with a Redis user that may only GET gv:auth:* keys', async () => {
    const { credential, token } = await store.create({ scope: 'host', host: 'h3', name: 'h3', createdBy: 'x' });
    const user = `gvtest-reader-${redis.server.db}`;
    await redis.client.call('ACL', 'SETUSER', user, 'reset', 'on', '>reader-password-0123', '~gv:auth:*', '+get', '+hget', '+hmget', '+select', '+ping');
    const reader = new Redis(redis.server.url, { username: user, password: 'reader-password-0123', maxRetriesPerRequest: 1, lazyConnect: true, enableReadyCheck: false });
    try {
      await reader.connect();
      const readOnly = new RedisCredentialStore({ redis: reader, logger: silent, now: () => clock });
      expect(await readOnly.verify(token)).toEqual(credential);
      // The same user cannot write there: verify really needs nothing more.
      await expect(reader.set(redisKeys.credentials(), 'x')).rejects.toThrow(/NOPERM/);
    } finally {
      reader.disconnect();
      await redis.client.call('ACL', 'DELUSER', user);
    }
  });
});
