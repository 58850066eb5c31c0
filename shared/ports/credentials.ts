// Who may do what: the scoped credentials the coordinator issues (README, "Security").
// A token is shown once when created and stored only as its SHA-256 hash.

/**
 * viewer < deployer < operator; `host` is apart: one host, acting only as itself;
 * `flags-reader` is apart too: it evaluates feature flags over OFREP and reads nothing else.
 */
export const SCOPES = ['viewer', 'deployer', 'operator', 'host', 'flags-reader'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Credential {
  /** Short public id, shown by `token list` and used by `token revoke`; never the secret. */
  id: string;
  scope: Scope;
  /** For the host scope: the one host (Serf node name) it may act as. */
  host?: string;
  /** A label for people, e.g. `ci-web`; the actor recorded is built from it. */
  name: string;
  createdAt: number;
  /** Who created it (the creating credential's actor). */
  createdBy: string;
  /** Absent: it never expires. */
  expiresAt?: number;
}

/** Reads a credential from the token a request presents: undefined when unknown, revoked or expired. */
export interface CredentialVerifier {
  verify(token: string): Promise<Credential | undefined>;
  /** The credential of a token verified lately and still trusted, without asking the store; undefined otherwise. */
  recall?(token: string): Credential | undefined;
}

export interface CredentialStore extends CredentialVerifier {
  /** Creates a credential and returns it with its token, the only time the token exists outside the caller. */
  create(spec: Omit<Credential, 'id' | 'createdAt'>): Promise<{ credential: Credential; token: string }>;
  /** The live credentials; unless `prune` is false, expired ones are dropped from the store as they are found. */
  list(options?: { prune?: boolean }): Promise<Credential[]>;
  /** False when no credential has this id. */
  revoke(id: string): Promise<boolean>;
}

/** How a credential is named in deploy records, broken marks, the log and the audit: `deployer ci-web (t-3f9a2c1b)`. */
export function actorOf(credential: Pick<Credential, 'id' | 'scope' | 'name'>): string {
  return `${credential.scope} ${credential.name} (${credential.id})`;
}

/** Whether the credential's expiry has passed at `now` (ms since the epoch); one without expiry never has. */
export function isExpired(credential: Pick<Credential, 'expiresAt'>, now: number): boolean {
  return credential.expiresAt !== undefined && credential.expiresAt <= now;
}
