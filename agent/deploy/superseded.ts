// A host that already applied a newer deploy of its group (a catch-up created in the same
// instant as a rollout, or a replayed event) must not run an older one, which would deploy
// backwards; but it is one of that deploy's targets, so it still ends its part, or the deploy
// would wait for it until its deadline.
import type { HostDeployView } from '../../shared/contract/deploy-views.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import { deployedInstance, type RoleServers } from '../role-servers.js';
import type { HostProgress } from './host-progress.js';

export interface SupersededDeps {
  node: string;
  lb: Record<string, RoleServers>;
  runtime: ContainerRuntime;
}

/**
 * Ends this host's part without touching its container: `succeeded` when it runs the deploy's
 * image already (the newer deploy brought the same release), else `cancelled`, naming why.
 */
export async function endSuperseded(deps: SupersededDeps, group: DeployGroup, deploy: HostDeployView, applied: number, host: HostProgress): Promise<void> {
  const instance = deployedInstance(deps.node, deps.lb, deploy);
  const running = await deps.runtime.runningImage(group.role, instance.colour);
  if (running === deploy.image) host.end('succeeded');
  else host.end('cancelled', `seq ${applied}, a newer deploy of ${group.role} to ${group.env}, was applied here first; running this one (seq ${deploy.seq}) would deploy backwards`);
}
