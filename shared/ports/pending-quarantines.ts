// Quarantines waiting out their grace (coordinator/strategies/quarantine.ts), kept where every
// coordinator sees them, so that one left by a coordinator that died is taken up by the leader.
// The Redis implementation is shared/redis/pending-quarantines.ts.

/** One group's quarantine from a broken tag, due once an operator had `since`..`dueAt` to act. */
export interface PendingQuarantine {
  role: string;
  env: string;
  tag: string;
  since: number;
  dueAt: number;
}

export interface PendingQuarantines {
  add(entry: PendingQuarantine): Promise<void>;
  all(): Promise<PendingQuarantine[]>;
  /** Takes it off the list: true for the one caller that did, which then acts on it. */
  claim(entry: PendingQuarantine): Promise<boolean>;
}
