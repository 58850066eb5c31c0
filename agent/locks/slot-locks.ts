// What the deploy needs from the shared lock store. The Redis adapter is the only
// implementation; unit tests of the deploy logic use fakes.

export interface DeployGroup {
  role: string;
  env: string;
}

export interface SlotLease {
  /** Which slot (1..k) this host holds. */
  readonly slot: number;
  /** Aborts when the lock is lost (renewal failed or another token holds the key). */
  readonly signal: AbortSignal;
  /** Compare-and-delete, then wake the longest-waiting host. Safe to call twice. */
  release(): Promise<void>;
}

export type AcquireResult = { kind: 'acquired'; lease: SlotLease } | { kind: 'broken'; reason: string };

export interface AcquireOptions {
  group: DeployGroup;
  /** How many slots exist for this group: ceil(n/3) of the matching hosts by default. */
  slots: number;
  /** Release being deployed: while waiting, a broken mark on it ends the wait. */
  tag: string;
  signal: AbortSignal;
  /** Called once when the first try finds every slot taken. */
  onWait?: () => void;
}

export interface SlotLocks {
  acquire(options: AcquireOptions): Promise<AcquireResult>;
}

/** The per-deploy counters and the broken-release mark, shared by every host of a group. */
export interface FleetState {
  /** Sets the deploy's remaining-hosts counter to `hosts` unless a host already did; returns its value. */
  initRemaining(group: DeployGroup, deployId: string, hosts: number): Promise<number>;
  /** Counts this host as finished once (idempotent); returns the hosts still to finish. */
  finishHost(group: DeployGroup, deployId: string, host: string): Promise<number>;
  brokenReason(group: DeployGroup, tag: string): Promise<string | null>;
  markBroken(group: DeployGroup, tag: string, reason: string): Promise<void>;
}
