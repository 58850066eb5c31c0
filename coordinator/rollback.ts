// Picks what a rollback deploys: the newest tag that last succeeded in the role and
// environment, is not broken, and is not the tag wanted there now.
import { ConflictError } from '../shared/contract/errors.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';

/** How far back in a group's history a rollback looks: the list endpoint's own maximum. */
const HISTORY_LIMIT = 200;

export interface RollbackChoice {
  tag: string;
  /** The tag currently desired, which the rollback replaces. */
  rollbackOf: string;
  /**
   * Whether the hosts run the role's once-per-deploy job: never unless the operator asks
   * (`--run-job`), since the job is the newer release's migration and must not run backwards.
   */
  runJob: boolean;
}

export async function chooseRollback(store: DeployStore, role: string, env: string, options: { runJob?: boolean } = {}): Promise<RollbackChoice> {
  const current = await store.getDesiredTag(role, env);
  if (current === undefined) {
    throw new ConflictError('nothing_to_roll_back', `role ${role} was never deployed to ${env}; there is nothing to roll back`);
  }
  // Newest first by sequence number (the group's creation order), not by createdAt: two coordinators' clocks differ.
  const deploys = (await store.listDeploys({ role, env, limit: HISTORY_LIMIT })).sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0));
  const brokenSeen = new Set<string>();
  for (const deploy of deploys) {
    if (deploy.status !== 'succeeded' || deploy.tag === current || brokenSeen.has(deploy.tag)) continue;
    const release = await store.getRelease(role, deploy.tag);
    if (release && !release.broken) return { tag: deploy.tag, rollbackOf: current, runJob: options.runJob === true };
    brokenSeen.add(deploy.tag);
  }
  throw new ConflictError(
    'nothing_to_roll_back',
    `no earlier release of ${role} succeeded in ${env} and is not broken (${env} wants ${current}); deploy a tag by name with --tag`,
  );
}
