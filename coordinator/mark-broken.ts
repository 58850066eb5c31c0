// Marking a release broken, whoever does it (an operator through the API, a failed canary
// analysis): the store's mark, the event of the first mark, and every rollout of it stopped.
import type { Logger } from '../shared/contract/logger.js';
import { GrapevineError } from '../shared/contract/errors.js';
import type { Release } from '../shared/contract/schemas.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';
import type { FleetControl } from '../shared/ports/fleet-state.js';
import type { FleetEventPublisher } from './fleet-event-bus.js';
import { stopRollouts } from './stop-rollouts.js';

export interface MarkBrokenDeps {
  store: DeployStore;
  fleet: FleetControl;
  fleetEvents: FleetEventPublisher;
  logger: Logger;
}

/** Marks `role:tag` broken (the first mark stays) and stops its rollouts in every environment; returns the release as stored. */
export async function markBroken(deps: MarkBrokenDeps, role: string, tag: string, mark: { reason: string; by: string; at: number }): Promise<Release> {
  const { store, fleet, fleetEvents, logger } = deps;
  const marked = await store.markReleaseBroken(role, tag, mark);
  if (!marked) throw new GrapevineError('release_not_found', `role ${role} has no release ${tag}`);
  const { release } = marked;
  // Only the first mark counts: marking a broken release again changes nothing.
  if (marked.marked) fleetEvents.publish({ kind: 'release.broken', at: mark.at, actor: mark.by, role, tag, reason: mark.reason });
  logger.warn({ role, tag, reason: release.broken?.reason, by: mark.by }, 'release marked broken');
  // Hosts waiting for a slot stand down at once, in every environment.
  await stopRollouts({ fleet, store, logger }, role, tag, { reason: mark.reason, by: mark.by });
  return release;
}
