// A coordinator's memory of the tokens it verified lately. Every agent sends several
// requests per deploy with the same token, and each verification is a Redis round trip
// and a parse: at 1 000 hosts that was a fifth of the coordinator's CPU. A verified token
// is trusted for `ttlMs` (5 s by default) without asking Redis again. Unknown tokens are
// never remembered, so a new credential works at once.
//
// What this costs: a credential revoked through the other coordinator, or deleted from
// Redis by hand, still works here for up to `ttlMs`; one revoked through this coordinator
// stops at once. An expiry is checked on every use, to the millisecond.
import type { Logger } from '../../shared/contract/logger.js';
import { isExpired, type Credential, type CredentialStore } from '../../shared/ports/credentials.js';
import type { RedisClient } from '../../shared/redis/connection.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';

export const VERIFIED_TTL_MS = 5_000;
/** Bounded: past this many remembered tokens, the oldest is forgotten (a fleet of 10 000 hosts fits). */
const MAX_REMEMBERED = 20_000;

interface Remembered {
  credential: Credential;
  until: number;
}

export class VerifiedCredentials implements CredentialStore {
  readonly #store: CredentialStore;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #remembered = new Map<string, Remembered>();

  constructor(store: CredentialStore, { ttlMs = VERIFIED_TTL_MS, now = Date.now }: { ttlMs?: number; now?: () => number } = {}) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  recall(token: string): Credential | undefined {
    const now = this.#now();
    const seen = this.#remembered.get(token);
    return seen && now < seen.until && !isExpired(seen.credential, now) ? seen.credential : undefined;
  }

  async verify(token: string): Promise<Credential | undefined> {
    const recalled = this.recall(token);
    if (recalled) return recalled;
    const now = this.#now();
    this.#remembered.delete(token);
    const credential = await this.#store.verify(token);
    if (credential) this.#remember(token, { credential, until: now + this.#ttlMs });
    return credential;
  }

  create(spec: Omit<Credential, 'id' | 'createdAt'>): ReturnType<CredentialStore['create']> {
    return this.#store.create(spec);
  }

  list(options?: { prune?: boolean }): Promise<Credential[]> {
    return this.#store.list(options);
  }

  async revoke(id: string): Promise<boolean> {
    // Forgotten before Redis is asked: a request racing the revocation reads Redis, not this memory.
    this.#forget(id);
    const revoked = await this.#store.revoke(id);
    this.#forget(id);
    return revoked;
  }

  #remember(token: string, entry: Remembered): void {
    if (this.#remembered.size >= MAX_REMEMBERED) this.#remembered.delete(this.#remembered.keys().next().value!);
    this.#remembered.set(token, entry);
  }

  #forget(id: string): void {
    for (const [token, entry] of this.#remembered) if (entry.credential.id === id) this.#remembered.delete(token);
  }
}


/** The credential store a coordinator serves with: Redis, with verified tokens remembered. */
export function coordinatorCredentials(redis: RedisClient, logger: Logger): VerifiedCredentials {
  return new VerifiedCredentials(new RedisCredentialStore({ redis, logger }));
}
