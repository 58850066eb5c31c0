// The state every host of a role and environment shares in Redis during a deploy. The
// agents use it while they deploy; the coordinator uses it to stop a rollout and to
// count out hosts that were lost. A `logger` passed in is the deploy's own: what the
// adapter logs for the call names the deploy.
import type { Logger } from '../contract/logger.js';
import type { BrokenMark } from '../contract/schemas.js';
import type { FreezeMark } from '../contract/freeze.js';

export type { FreezeMark } from '../contract/freeze.js';

export interface MarkOptions {
  /** Who the mark names: the host that failed, or an operator; the adapter's own name unless given. */
  by?: string;
  logger?: Logger;
}

export interface DeployGroup {
  role: string;
  env: string;
}

/** A slot key of a group held now: its number and the host whose token it holds. */
export interface SlotHolder {
  slot: number;
  host: string;
}

/** The per-deploy counters and the broken-release mark, shared by every host of a group. */
export interface FleetState {
  /** Sets the deploy's remaining-hosts counter to `hosts` unless a host already did; returns its value. */
  initRemaining(group: DeployGroup, deployId: string, hosts: number, logger?: Logger): Promise<number>;
  /** Counts this host as finished once (idempotent); returns the hosts still to finish. */
  finishHost(group: DeployGroup, deployId: string, host: string): Promise<number>;
  /** Who marked the tag broken and why (`h1: health: unhealthy`); null when it is not marked. */
  brokenReason(group: DeployGroup, tag: string): Promise<string | null>;
  /** Sets the group's broken mark for the tag and wakes every waiting host so it stands down. */
  markBroken(group: DeployGroup, tag: string, reason: string, options?: MarkOptions): Promise<void>;
  /**
   * `host` serves again (registered in the load balancer): it no longer counts against the
   * group's k, and the slot it held back wakes a waiting host. Whether it was counted out.
   */
  backInService(group: DeployGroup, host: string, logger?: Logger): Promise<boolean>;
}

/**
 * What the coordinator does to the same state: stop rollouts, count out a host that was
 * lost, and show an operator the hosts counted out of service (and forget one, through
 * backInService, when it is gone for good).
 */
export interface FleetControl extends Pick<FleetState, 'markBroken' | 'initRemaining' | 'finishHost' | 'backInService'> {
  /** Whether the host took a slot and has not served since: it counts against the group's k. */
  isOutOfService(group: DeployGroup, host: string): Promise<boolean>;
  /** Every host of the group counted out of service now, sorted by name. */
  outOfServiceHosts(group: DeployGroup): Promise<string[]>;
  /** The group's slot keys 1..maxSlots that are held now, by slot number, with the host holding each. */
  slotHolders(group: DeployGroup, maxSlots: number): Promise<SlotHolder[]>;
  /** The group's broken mark of the tag as the first host to set it left it (who, why, when); null when unmarked. */
  brokenMark(group: DeployGroup, tag: string): Promise<BrokenMark | null>;
  /**
   * Sets the deploy's stop mark and wakes every waiting host of the group: those taking part
   * in this deploy stand down (those of another deploy find no mark of theirs and wait on).
   * Hosts that already hold a slot finish their step; nothing else takes one for this deploy.
   */
  stopDeploy(group: DeployGroup, deployId: string, reason: string, logger?: Logger): Promise<void>;
  /**
   * Freezes the group: from now no host takes a slot (checked atomically with taking one);
   * waiting hosts are held, hosts holding a slot finish their own host. A mark with `until`
   * lapses by itself then. A freeze already there is replaced.
   */
  freeze(group: DeployGroup, mark: FreezeMark, logger?: Logger): Promise<void>;
  /** Lifts the group's freeze and wakes every held and waiting host; the mark removed, or null when it was not frozen. */
  unfreeze(group: DeployGroup, logger?: Logger): Promise<FreezeMark | null>;
  /** The group's freeze now, or null. */
  frozen(group: DeployGroup): Promise<FreezeMark | null>;
  /**
   * Lets only `hosts` take a slot for the deploy (a canary's first hosts); every other host
   * of it is held. Set before the deploy's event fires; lapses by itself `ttlMs` from now.
   */
  closeGate(group: DeployGroup, deployId: string, hosts: readonly string[], ttlMs?: number): Promise<void>;
  /** Lets every host of the deploy take a slot again, waking every held and waiting host. */
  openGate(group: DeployGroup, deployId: string, logger?: Logger): Promise<void>;
}
