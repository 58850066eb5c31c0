// The lease two coordinators share, so that one of them runs the work that must run once
// (the watchdog, the strategy runner): coordinator/leadership/coordinator-lease.ts keeps it.

/** One attempt to hold the lease: held (renewed or taken) in a fencing epoch, or held by another. */
export type LeaseAttempt = { kind: 'renewed' | 'taken'; epoch: number } | { kind: 'other'; holder: string };

export interface LeaseStore {
  /** Takes the lease when free, or extends it while `token` holds it, for `ttlMs` from now. */
  hold(token: string, ttlMs: number): Promise<LeaseAttempt>;
  /** The holder's token, or undefined when nobody holds it. */
  holder(): Promise<string | undefined>;
  /** Gives it up while `token` holds it; false when it had lapsed or another holds it. */
  drop(token: string): Promise<boolean>;
}
