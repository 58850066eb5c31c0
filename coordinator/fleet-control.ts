// What the coordinator does to the state the agents share in Redis: stop the rollouts
// of a broken release, and count out a host that was lost. RedisFleetState implements it.
import type { DeployGroup, FleetState } from '../shared/fleet/fleet-state.js';
import type { Logger } from '../shared/logger.js';
import type { RedisStore } from './store.js';

export interface FleetControl extends Pick<FleetState, 'markBroken' | 'initRemaining' | 'finishHost'> {
  /** Frees every slot of the group the host holds and wakes a waiter per slot; returns the slots freed. */
  freeSlotsOf(group: DeployGroup, host: string, maxSlots: number): Promise<number[]>;
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
