// What the deploy needs from the shared lock store. The Redis adapter is the only
// implementation; unit tests of the deploy logic use fakes.
import type { Logger } from '../contract/logger.js';
import type { DeployGroup } from './fleet-state.js';
import type { ZoneRule } from '../contract/zone-rule.js';


export interface SlotLease {
  /** Which slot (1..k) this host holds. */
  readonly slot: number;
  /** The grant's number among the group's grants: later grants have higher epochs. */
  readonly epoch: number;
  /** Aborts when the lease is lost (it lapsed unrenewed, or another token holds the key). */
  readonly signal: AbortSignal;
  /**
   * Renews the lease now and resolves once Redis confirmed this host still holds it; rejects
   * with a LockLostError (and aborts `signal`) when it does not, or when no confirmation came
   * before the lease could have lapsed. Called before each step that takes the host out of
   * service or changes what it runs.
   */
  confirm(): Promise<void>;
  /**
   * Compare-and-delete, then wake the longest-waiting host. Safe to call twice (the first
   * call's options hold). The holder leaves the group's out-of-service set with it unless
   * `outOfService` says it does not serve again (it could not put any version back): then
   * it keeps counting against k until it registers again. Never rejects; false when Redis
   * did not answer, so a holder that serves again must say so another way.
   */
  release(options?: ReleaseOptions): Promise<boolean>;
}

export interface ReleaseOptions {
  /** True when the holder does not serve again: it stays counted out of service. */
  outOfService?: boolean;
}

export type AcquireResult =
  | { kind: 'acquired'; lease: SlotLease }
  /** The release is marked broken: stand down. */
  | { kind: 'broken'; reason: string }
  /** The deploy was stopped (it passed its deadline): stand down. */
  | { kind: 'stopped' };

export interface AcquireOptions {
  group: DeployGroup;
  /** The deploy taking part: its stop mark ends the wait. */
  deployId: string;
  /** How many slots exist for this group: ceil(n/3) of the matching hosts by default. */
  slots: number;
  /** Name of the host asking; it leads the lock token so the host's slot can be found if it is lost. */
  holder: string;
  /** Release being deployed: while waiting, a broken mark on it ends the wait. */
  tag: string;
  signal: AbortSignal;
  /** The deploy's logger: every line the locks log for this acquire and its lease names the deploy. */
  logger?: Logger;
  /** Called once when the first try finds every slot taken. */
  onWait?: () => void;
  /** The host's zone (its `zone` Serf tag); none is zone "". */
  zone?: string;
  /** The deploy's cap on hosts out of service per zone; none when absent. */
  zoneRule?: ZoneRule;
}

/**
 * Told of each lease renewal that did not renew (Redis failed or did not answer, or the key
 * holds another token) and of each lease lost: the agent's metrics count them. Called on the
 * lease's own timer, never awaited; a watch that throws is logged and changes nothing.
 */
export interface LeaseWatch {
  renewalFailed(group: DeployGroup): void;
  lost(group: DeployGroup): void;
}

export interface SlotLocks {
  acquire(options: AcquireOptions): Promise<AcquireResult>;
}
