// Every /v1 request's bearer token becomes a Credential before any route runs: the config's
// token is the bootstrap operator, any other is looked up in the credential store. Routes
// then say which scopes they admit with `allow(...)`.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { ForbiddenError, UnauthorizedError } from '../../shared/contract/errors.js';
import { bearerToken } from '../../shared/http/request-validation.js';
import type { Credential, CredentialVerifier, Scope } from '../../shared/ports/credentials.js';
import { scopeAllows, scopeRefusal } from './scopes.js';

/** What a handler reads with `c.get('credential')`. */
export interface CoordinatorEnv {
  Variables: { credential: Credential };
}

/** The config's token: an operator named `operator bootstrap (config)` wherever it acts. */
export const BOOTSTRAP_CREDENTIAL: Credential = Object.freeze({ id: 'config', scope: 'operator', name: 'bootstrap', createdAt: 0, createdBy: 'config' });

const digest = (text: string) => createHash('sha256').update(text).digest();
/** The bootstrap token's digest, computed once per token rather than on every request. */
const expectedDigests = new Map<string, Buffer>();

function sameToken(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so the comparison leaks neither content nor length.
  let expectedDigest = expectedDigests.get(expected);
  if (!expectedDigest) {
    expectedDigest = digest(expected);
    expectedDigests.clear();
    expectedDigests.set(expected, expectedDigest);
  }
  return timingSafeEqual(digest(given), expectedDigest);
}

export interface TokenCheck {
  bootstrapToken: string;
  verifier: CredentialVerifier;
}

/** The credential a token stands for: the bootstrap operator, a stored one, or undefined when unknown, revoked or expired. */
export async function credentialFor(token: string, { bootstrapToken, verifier }: TokenCheck): Promise<Credential | undefined> {
  // A stored token verified lately skips the bootstrap comparison's hashing: it cannot be the
  // config's token, which is never stored. Most of a fleet's requests are hosts' repeats.
  const recalled = verifier.recall?.(token);
  if (recalled) return recalled;
  return sameToken(token, bootstrapToken) ? BOOTSTRAP_CREDENTIAL : verifier.verify(token);
}

/**
 * 401 for a missing, unknown, revoked or expired token; otherwise the credential is set for the route.
 * `sessionToken` may take the token from elsewhere when no bearer token came (the dashboard's cookie, for its event stream).
 */
export function authenticate({ bootstrapToken, verifier, sessionToken }: TokenCheck & { sessionToken?: (c: Context) => string | undefined }): MiddlewareHandler<CoordinatorEnv> {
  return async (c, next) => {
    const token = bearerToken(c) ?? sessionToken?.(c);
    if (!token) throw new UnauthorizedError();
    const credential = await credentialFor(token, { bootstrapToken, verifier });
    if (!credential) throw new UnauthorizedError('unknown, revoked or expired token');
    c.set('credential', credential);
    await next();
  };
}

/** Admits the credentials of `scopes` (a ranked scope admits every higher one); 403 naming the scope needed otherwise. */
export function allow(...scopes: Scope[]): MiddlewareHandler<CoordinatorEnv> {
  return async (c, next) => {
    const credential = c.get('credential');
    if (!scopeAllows(credential.scope, scopes)) throw new ForbiddenError(scopeRefusal(c.req.method, c.req.path, scopes, credential));
    await next();
  };
}
