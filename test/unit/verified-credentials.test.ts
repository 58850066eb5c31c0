// The coordinator's memory of verified tokens: a token is asked of the store once per
// TTL, unknown tokens are asked every time, and a revocation or an expiry through this
// coordinator takes effect at once.
import { describe, expect, it } from 'vitest';
import { VerifiedCredentials } from '../../coordinator/auth/verified-credentials.js';
import { BOOTSTRAP_CREDENTIAL, credentialFor } from '../../coordinator/auth/authenticate.js';
import type { Credential, CredentialStore } from '../../shared/ports/credentials.js';

function countingStore(known: Map<string, Credential>) {
  const asked: string[] = [];
  const store: CredentialStore = {
    async verify(token) {
      asked.push(token);
      return known.get(token);
    },
    async create() {
      throw new Error('not used');
    },
    async list() {
      return [...known.values()];
    },
    async revoke(id) {
      for (const [token, credential] of known) if (credential.id === id) known.delete(token);
      return true;
    },
  };
  return { store, asked };
}

const host: Credential = { id: 't-1', scope: 'host', host: 'h1', name: 'h1', createdAt: 0, createdBy: 'test' };

describe('verified credentials', () => {
  it('asks the store once per TTL for a known token, every time for an unknown one', async () => {
    let clock = 1_000;
    const { store, asked } = countingStore(new Map([['gv_known', host]]));
    const verified = new VerifiedCredentials(store, { ttlMs: 5_000, now: () => clock });
    expect(await verified.verify('gv_known')).toEqual(host);
    expect(await verified.verify('gv_known')).toEqual(host);
    expect(await verified.verify('gv_unknown')).toBeUndefined();
    expect(await verified.verify('gv_unknown')).toBeUndefined();
    expect(asked).toEqual(['gv_known', 'gv_unknown', 'gv_unknown']);
    clock += 5_000;
    expect(await verified.verify('gv_known')).toEqual(host);
    expect(asked).toEqual(['gv_known', 'gv_unknown', 'gv_unknown', 'gv_known']);
  });

  it('stops a token revoked through it at once', async () => {
    const { store } = countingStore(new Map([['gv_known', host]]));
    const verified = new VerifiedCredentials(store, { ttlMs: 60_000 });
    expect(await verified.verify('gv_known')).toEqual(host);
    expect(await verified.revoke('t-1')).toBe(true);
    expect(await verified.verify('gv_known')).toBeUndefined();
  });

  it('stops answering for a remembered token at its expiry, to the millisecond', async () => {
    let clock = 1_000;
    const expiring = { ...host, expiresAt: 2_000 };
    const { store, asked } = countingStore(new Map([['gv_known', expiring]]));
    // The store refuses an expired credential, as the Redis store does.
    const strict: CredentialStore = { ...store, verify: async (token) => ((await store.verify(token))?.expiresAt ?? Infinity) > clock ? store.verify(token) : undefined };
    const verified = new VerifiedCredentials(strict, { ttlMs: 60_000, now: () => clock });
    expect(await verified.verify('gv_known')).toEqual(expiring);
    clock = 1_999;
    expect(await verified.verify('gv_known')).toEqual(expiring);
    const askedBefore = asked.length;
    clock = 2_000;
    expect(await verified.verify('gv_known')).toBeUndefined();
    // The memory did not answer: the store was asked again, and said no.
    expect(asked.length).toBeGreaterThan(askedBefore);
  });

  it('recalls a verified token without the store until its TTL, and never the config token', async () => {
    let clock = 1_000;
    const { store, asked } = countingStore(new Map([['gv_known', host]]));
    const verified = new VerifiedCredentials(store, { ttlMs: 5_000, now: () => clock });
    const check = { bootstrapToken: 'config-token', verifier: verified };
    expect(verified.recall('gv_known')).toBeUndefined();
    expect(await credentialFor('gv_known', check)).toEqual(host);
    expect(verified.recall('gv_known')).toEqual(host);
    expect(await credentialFor('gv_known', check)).toEqual(host);
    expect(await credentialFor('config-token', check)).toBe(BOOTSTRAP_CREDENTIAL);
    expect(asked).toEqual(['gv_known']);
    clock += 5_000;
    expect(verified.recall('gv_known')).toBeUndefined();
    expect(await credentialFor('gv_known', check)).toEqual(host);
    expect(asked).toEqual(['gv_known', 'gv_known']);
  });
});
