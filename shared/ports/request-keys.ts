// What makes a create safe to send twice: the client's idempotency key per call, and the id of
// what the first call with that key created (coordinator/create-once.ts).

export type KeyClaim = { kind: 'claimed' } | { kind: 'created'; id: string } | { kind: 'pending' };

export interface RequestKeys {
  /** Claims `key` for a create about to run (for `pendingMs`), or says what a call with it did or is doing. */
  claim(key: string, pendingMs: number): Promise<KeyClaim>;
  /** Records the id the claimed create made, kept for `keepMs`. */
  record(key: string, id: string, keepMs: number): Promise<void>;
  /** Lets the key go after a create that failed: a retry may run it again. */
  release(key: string): Promise<void>;
}
