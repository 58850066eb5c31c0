// A deploy still in progress past its deadline fails and stops, naming the hosts that did
// not finish: the one time the watchdog reads every report of a deploy.
import type { Logger } from '../shared/contract/logger.js';
import { FINAL_HOST_STATES, type Deploy } from '../shared/contract/schemas.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';
import type { FleetControl } from '../shared/ports/fleet-state.js';
import type { FleetEventPublisher } from './fleet-event-bus.js';
import { wholeDeploy } from './whole-deploy.js';

export interface PastDeadlineDeps {
  store: DeployStore;
  fleet: FleetControl;
  fleetEvents: FleetEventPublisher;
  deadlineMs: number;
}

/** True when this call ended the deploy (false: it had ended meanwhile). */
export async function failPastDeadline(deps: PastDeadlineDeps, id: string, now: number, log: Logger): Promise<boolean> {
  const { store, deadlineMs } = deps;
  const deploy = await wholeDeploy(store, id);
  if (!deploy || deploy.status !== 'in_progress') return false;
  const unfinished = unfinishedHosts(deploy);
  const seconds = Math.round(deadlineMs / 1000);
  const reason =
    unfinished.length > 0
      ? `did not finish within ${seconds} s; hosts not finished: ${unfinished.join(', ')}`
      : `did not finish within ${seconds} s; every host reported an end but the remaining-hosts count never reached zero`;
  // Stopped first, so a tick that could not stop it leaves it in progress to try again:
  // no waiting host may take a slot for a deploy that ended.
  await deps.fleet.stopDeploy({ role: deploy.role, env: deploy.env }, id, reason, log);
  const ended = await store.finishDeploy(id, 'failed', reason, now);
  if (!ended?.finished) return false;
  deps.fleetEvents.publish({ kind: 'deploy.finished', at: now, actor: 'coordinator', deploy: ended.record });
  log.warn({ unfinished }, 'deploy ran past its deadline; stopped and failed');
  return true;
}

/** Hosts that must still end the deploy: its targets and any other reporting host without a final state. */
function unfinishedHosts(deploy: Deploy): string[] {
  const hosts = new Set([...(deploy.targets ?? []), ...Object.keys(deploy.hosts)]);
  return [...hosts].filter((host) => {
    const report = deploy.hosts[host];
    return !report || !FINAL_HOST_STATES.has(report.state);
  }).sort();
}
