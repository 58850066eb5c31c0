// The state each host of a group is in, for the coordinator's `grapevine_hosts` gauge: the
// hosts the group's newest rollout targeted (and hosts caught up since), each in its state
// in the newest deploy that named it: `waiting` from the deploy's start until it reports,
// then as it reports (`deploying`, and its final state once it ends). A host forgotten by an
// operator leaves its group; a host the next rollout does not target (it was not alive and
// matching then) leaves it too, since the group no longer counts it.
import { HOST_STATES, type HostReport, type HostState } from '../../shared/contract/schemas.js';
import type { DeployRef } from '../../shared/contract/fleet-events.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';

export interface GroupHostCount {
  role: string;
  env: string;
  state: HostState;
  hosts: number;
}

interface HostEntry {
  /** The newest deploy that named this host: only its reports move the host's state. */
  deployId: string;
  state: HostState;
}

interface Group {
  role: string;
  env: string;
  /** The newest rollout's id: a report of it adds a host the coordinator had not seen start. */
  rollout: string | undefined;
  hosts: Map<string, HostEntry>;
}

type StartedDeploy = Pick<DeployRecord, 'id' | 'role' | 'env' | 'targets' | 'catchUpOf'>;

export class HostStates {
  readonly #groups = new Map<string, Group>();

  /** A new deploy: a rollout makes its targets the group; a catch-up moves only its one host. */
  started(deploy: StartedDeploy): void {
    const group = this.#group(deploy.role, deploy.env);
    const targets = deploy.targets ?? [];
    if (deploy.catchUpOf === undefined) {
      group.rollout = deploy.id;
      group.hosts = new Map();
    }
    for (const host of targets) group.hosts.set(host, { deployId: deploy.id, state: 'waiting' });
  }

  /** A host's report: it counts when it is of the newest deploy that named the host. */
  reported(deploy: Pick<DeployRef, 'id' | 'role' | 'env'>, report: Pick<HostReport, 'host' | 'state'>): void {
    const group = this.#groups.get(groupKey(deploy.role, deploy.env));
    if (!group) return;
    const entry = group.hosts.get(report.host);
    const current = entry ? entry.deployId === deploy.id : group.rollout === deploy.id;
    if (current) group.hosts.set(report.host, { deployId: deploy.id, state: report.state });
  }

  forgotten(role: string, env: string, host: string): void {
    this.#groups.get(groupKey(role, env))?.hosts.delete(host);
  }

  /** Whether any event of this group was taken yet (a replay of older deploys must not overwrite it). */
  knows(role: string, env: string): boolean {
    return this.#groups.has(groupKey(role, env));
  }

  /** Every known group with every host state, zeros included, so a series never vanishes between scrapes. */
  counts(): GroupHostCount[] {
    const counts: GroupHostCount[] = [];
    for (const group of this.#groups.values()) {
      const byState = new Map<HostState, number>(HOST_STATES.map((state) => [state, 0]));
      for (const { state } of group.hosts.values()) byState.set(state, (byState.get(state) ?? 0) + 1);
      for (const [state, hosts] of byState) counts.push({ role: group.role, env: group.env, state, hosts });
    }
    return counts;
  }

  #group(role: string, env: string): Group {
    const key = groupKey(role, env);
    let group = this.#groups.get(key);
    if (!group) {
      group = { role, env, rollout: undefined, hosts: new Map() };
      this.#groups.set(key, group);
    }
    return group;
  }
}

function groupKey(role: string, env: string): string {
  return `${role}/${env}`;
}
