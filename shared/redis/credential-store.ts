// Scoped credentials in Redis. A token is `gv_` and 32 random bytes (base64url), shown once;
// Redis keeps only its SHA-256. `verify` reads one key with GET, so a Redis user that may
// only read gv:auth:* (the load balancer's relay) can check a token too.
import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from './connection.js';
import * as z from 'zod';
import { GrapevineError } from '../contract/errors.js';
import type { Logger } from '../contract/logger.js';
import { redisKeys } from '../contract/redis-keys.js';
import { Credential as CredentialSchema } from '../contract/token-schemas.js';
import { isExpired, type Credential, type CredentialStore } from '../ports/credentials.js';
import { RedisScripts, callRedis } from './scripts.js';
import { parseStored } from './stored-record.js';

export const TOKEN_PREFIX = 'gv_';
/** What a token looks like: anything else is refused before Redis is asked. */
const TOKEN_SHAPE = /^gv_[A-Za-z0-9_-]{43}$/;
/** Ids are 32 random bits: a clash is rare, and a drawn id that clashes is drawn again. */
const ID_ATTEMPTS = 5;

const Entry = z.object({ credential: CredentialSchema, tokenHash: z.string() });

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class RedisCredentialStore implements CredentialStore {
  readonly #redis: RedisClient;
  readonly #scripts: RedisScripts;
  readonly #logger: Logger;
  readonly #now: () => number;

  constructor({ redis, logger, now = Date.now }: { redis: RedisClient; logger: Logger; now?: () => number }) {
    this.#redis = redis;
    this.#scripts = RedisScripts.for(redis);
    this.#logger = logger.child({ component: 'credentials' });
    this.#now = now;
  }

  /** The credential a token stands for; undefined when it is malformed, unknown, revoked or expired. GET only. */
  async verify(token: string): Promise<Credential | undefined> {
    if (!TOKEN_SHAPE.test(token)) return undefined;
    const raw = await callRedis('verifying a token', () => this.#redis.get(redisKeys.credentialByToken(tokenHash(token))));
    if (raw === null) return undefined;
    const credential = parseStored(CredentialSchema, raw, 'a credential');
    // Redis drops the key at expiry too; this holds to the millisecond whatever Redis's clock says.
    return isExpired(credential, this.#now()) ? undefined : credential;
  }

  async create(spec: Omit<Credential, 'id' | 'createdAt'>): Promise<{ credential: Credential; token: string }> {
    const createdAt = this.#now();
    if (spec.expiresAt !== undefined && spec.expiresAt <= createdAt) {
      throw new GrapevineError('invalid_input', 'a credential must expire after it is created');
    }
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const hash = tokenHash(token);
    const ttlMs = spec.expiresAt === undefined ? '' : spec.expiresAt - createdAt;
    for (let attempt = 0; attempt < ID_ATTEMPTS; attempt += 1) {
      const credential: Credential = { ...spec, id: `t-${randomBytes(4).toString('hex')}`, createdAt };
      const stored = await this.#scripts.run(
        'createCredential',
        [redisKeys.credentials(), redisKeys.credentialByToken(hash)],
        [credential.id, JSON.stringify({ credential, tokenHash: hash }), JSON.stringify(credential), ttlMs],
        `credential ${credential.id}`,
      );
      if (stored) return { credential, token };
    }
    throw new GrapevineError('credential_id_clash', `no free credential id after ${ID_ATTEMPTS} draws`);
  }

  /** Every credential that has not expired, oldest first; expired ones are dropped from the list as they are found. */
  async list(options: { prune?: boolean } = {}): Promise<Credential[]> {
    const all = await callRedis('listing credentials', () => this.#redis.hgetall(redisKeys.credentials()));
    const now = this.#now();
    const live: Credential[] = [];
    const expired: string[] = [];
    for (const [id, raw] of Object.entries(all)) {
      const { credential } = parseStored(Entry, raw, `credential ${id}`);
      if (isExpired(credential, now)) expired.push(id);
      else live.push(credential);
    }
    if (expired.length > 0 && options.prune !== false) {
      await callRedis('dropping expired credentials', () => this.#redis.hdel(redisKeys.credentials(), ...expired));
      this.#logger.info({ ids: expired }, 'expired credentials dropped from the list');
    }
    return live.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** Deletes the credential and its token's key together; false when no credential has this id. */
  async revoke(id: string): Promise<boolean> {
    const raw = await callRedis(`reading credential ${id}`, () => this.#redis.hget(redisKeys.credentials(), id));
    if (raw === null) return false;
    const { tokenHash: hash } = parseStored(Entry, raw, `credential ${id}`);
    await callRedis(`revoking credential ${id}`, async () => {
      const results = await this.#redis.multi().del(redisKeys.credentialByToken(hash)).hdel(redisKeys.credentials(), id).exec();
      const failure = results?.find(([error]) => error)?.[0];
      if (failure) throw failure;
    });
    return true;
  }
}
