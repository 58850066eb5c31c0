// What the coordinator does to the state the agents share in Redis: stop the rollouts
// of a broken release, and count out a host that was lost. RedisFleetState implements it.
import type { DeployGroup } from '../shared/fleet/fleet-state.js';
import type { Logger } from '../shared/logger.js';
import type { RedisStore } from './store.js';

export interface FleetControl {
  /** Sets the group's broken mark for the tag and wakes every waiting host so it stands down. */
  markBroken(group: DeployGroup, tag: string, reason: string): Promise<void>;
  /** Sets the deploy's remaining-hosts counter unless a host already did; returns its value. */
  initRemaining(group: DeployGroup, deployId: string, hosts: number): Promise<number>;
  /** Frees every slot of the group the host holds and wakes a waiter per slot; returns the slots freed. */
  freeSlotsOf(group: DeployGroup, host: string, maxSlots: number): Promise<number[]>;
  /** Counts the host out of the deploy once; returns the hosts still to finish. */
  finishHost(group: DeployGroup, deployId: string, host: string): Promise<number>;
}

/**
 * Marks `role:tag` broken in the fleet of every environment the role was ever deployed
 * to, so a rollout still in progress anywhere stops at once. Returns those environments.
 */
export async function stopRollouts(
  { fleet, store, logger }: { fleet: FleetControl; store: RedisStore; logger: Logger },
  role: string,
  tag: string,
  reason: string,
): Promise<string[]> {
  const envs = await store.envsOfRole(role);
  for (const env of envs) await fleet.markBroken({ role, env }, tag, reason);
  if (envs.length > 0) logger.warn({ role, tag, envs }, 'broken release stopped in every environment of its role');
  return envs;
}
