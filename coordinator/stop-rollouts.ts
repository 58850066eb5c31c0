// Stopping a broken release everywhere: every environment its role was ever deployed to.
import type { FleetControl } from '../shared/ports/fleet-state.js';
import type { Logger } from '../shared/contract/logger.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';

/**
 * Marks `role:tag` broken in the fleet of every environment the role was ever deployed
 * to, so a rollout still in progress anywhere stops at once. Returns those environments.
 * The mark names who found it broken (`by`); `logger` is the caller's: on a deploy's path,
 * what the fleet logs names the deploy.
 */
export async function stopRollouts(
  { fleet, store, logger }: { fleet: FleetControl; store: DeployStore; logger: Logger },
  role: string,
  tag: string,
  mark: { reason: string; by: string },
): Promise<string[]> {
  const envs = await store.envsOfRole(role);
  for (const env of envs) await fleet.markBroken({ role, env }, tag, mark.reason, { by: mark.by, logger });
  if (envs.length > 0) logger.warn({ role, tag, envs }, 'broken release stopped in every environment of its role');
  return envs;
}
