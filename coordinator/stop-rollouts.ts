// Stopping a broken release everywhere: every environment its role was ever deployed to.
import type { FleetControl } from '../shared/ports/fleet-state.js';
import type { Logger } from '../shared/contract/logger.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';

/**
 * Marks `role:tag` broken in the fleet of every environment the role was ever deployed
 * to, so a rollout still in progress anywhere stops at once. Returns those environments.
 * `logger` is the caller's: on a deploy's path, what the fleet logs names the deploy.
 */
export async function stopRollouts(
  { fleet, store, logger }: { fleet: FleetControl; store: DeployStore; logger: Logger },
  role: string,
  tag: string,
  reason: string,
): Promise<string[]> {
  const envs = await store.envsOfRole(role);
  for (const env of envs) await fleet.markBroken({ role, env }, tag, reason, logger);
  if (envs.length > 0) logger.warn({ role, tag, envs }, 'broken release stopped in every environment of its role');
  return envs;
}
