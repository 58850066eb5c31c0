// One lock per deploy group between the coordinators serving a fleet
// (coordinator/leadership/group-lock.ts keeps it; shared/redis/group-lock-store.ts in Redis).
import type { DeployGroup } from './fleet-state.js';

/** One attempt to take a group's lock: taken, or the token that holds it ("" when it lapsed meanwhile). */
export type GroupLockAttempt = { kind: 'taken' } | { kind: 'held'; holder: string };

export interface GroupLockStore {
  /** Takes the group's lock for `ttlMs` when nobody holds it. */
  take(group: DeployGroup, token: string, ttlMs: number): Promise<GroupLockAttempt>;
  /** Extends it for `ttlMs` from now while `token` holds it; false when it lapsed or another holds it. */
  renew(group: DeployGroup, token: string, ttlMs: number): Promise<boolean>;
  /** Frees it while `token` holds it; false when it had lapsed or another holds it. */
  release(group: DeployGroup, token: string): Promise<boolean>;
}
