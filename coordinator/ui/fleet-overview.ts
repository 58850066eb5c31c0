// What the dashboard's overview shows, read from the coordinator's own sources only: the
// groups (role and environment) with their hosts from Serf's member list and the deploys
// on record, the tag each host runs (its newest succeeded report among the group's recent
// deploys), the desired tag, each host's health (Serf's status, and the group's
// out-of-service set), a group's freeze, recent deploys, and each role's releases with
// their broken marks. Deploys are read as summaries (counts, no reports); a host's tag comes
// from its own view of the group's recent deploys, so a refresh never reads every report.
import type { DeploySummary } from '../../shared/contract/deploy-views.js';
import { errorMessage } from '../../shared/contract/errors.js';
import type { Release } from '../../shared/contract/schemas.js';
import type { DeployStore } from '../../shared/ports/deploy-store.js';
import type { FleetControl, FreezeMark } from '../../shared/ports/fleet-state.js';
import type { Membership, SerfMember } from '../../shared/ports/membership.js';
import { byHostName } from '../../shared/contract/deploy-analysis.js';

/** Recent deploys listed, fleet-wide. */
export const RECENT_DEPLOYS = 20;
/** A group's deploys searched for the tag each of its hosts last succeeded with. */
const GROUP_DEPLOYS = 10;
/** Releases listed per role, newest first. */
export const RELEASES_PER_ROLE = 10;
/** Groups shown at most: a fleet with more needs filters this page does not have yet. */
const MAX_GROUPS = 50;

export interface HostView {
  name: string;
  addr: string;
  /** Serf's status: alive, failed, leaving, left. */
  serf: string;
  /** Counted out of service by its group (took a slot and has not served since). */
  outOfService: boolean;
  /** The tag of its newest succeeded report, and that deploy. */
  running?: { tag: string; deployId: string };
}

export interface GroupView {
  role: string;
  env: string;
  desiredTag?: string;
  hosts: HostView[];
  /** Hosts its out-of-service set names that Serf does not list any more. */
  outOfServiceUnlisted: string[];
  /** The group's freeze, when it is frozen: its waiting hosts take no slot. */
  frozen?: FreezeMark;
}

export interface FleetOverview {
  groups: GroupView[];
  /** Groups left out past MAX_GROUPS. */
  groupsLeftOut: number;
  deploys: DeploySummary[];
  releases: Array<{ role: string; releases: Release[] }>;
  /** Why Serf could not be asked, when it could not: hosts are then missing. */
  serfError?: string;
}

export interface OverviewSources {
  store: DeployStore;
  membership: Membership;
  fleet: FleetControl;
}

export async function readFleetOverview({ store, membership, fleet }: OverviewSources): Promise<FleetOverview> {
  const [members, deploys] = await Promise.all([
    membership.members().then(
      (list) => ({ list, error: undefined }),
      (error: unknown) => ({ list: [] as SerfMember[], error: errorMessage(error) }),
    ),
    store.listSummaries({ limit: RECENT_DEPLOYS }).then((page) => page.items as DeploySummary[]),
  ]);

  const hostsByGroup = new Map<string, SerfMember[]>();
  const groupOf = (role: string, env: string) => {
    const key = `${role}/${env}`;
    if (!hostsByGroup.has(key)) hostsByGroup.set(key, []);
    return hostsByGroup.get(key)!;
  };
  for (const member of members.list) {
    const { roles, env } = member.tags;
    if (!roles || !env) continue;
    for (const role of roles.split(',').filter(Boolean)) groupOf(role, env).push(member);
  }
  for (const deploy of deploys) groupOf(deploy.role, deploy.env);

  const keys = [...hostsByGroup.keys()].sort(byHostName);
  const shown = keys.slice(0, MAX_GROUPS);
  const groups = await Promise.all(
    shown.map((key) => {
      const [role = '', env = ''] = key.split('/');
      return readGroup({ store, fleet }, role, env, hostsByGroup.get(key) ?? []);
    }),
  );
  const roles = [...new Set(groups.map((group) => group.role))].sort();
  const releases = await Promise.all(roles.map(async (role) => ({ role, releases: (await store.listReleases(role)).slice(0, RELEASES_PER_ROLE) })));
  return {
    groups,
    groupsLeftOut: keys.length - shown.length,
    deploys,
    releases,
    ...(members.error === undefined ? {} : { serfError: members.error }),
  };
}

async function readGroup({ store, fleet }: Pick<OverviewSources, 'store' | 'fleet'>, role: string, env: string, members: SerfMember[]): Promise<GroupView> {
  const [desiredTag, recent, out, frozen] = await Promise.all([
    store.getDesiredTag(role, env),
    store.listSummaries({ role, env, limit: GROUP_DEPLOYS }).then((page) => page.items as DeploySummary[]),
    fleet.outOfServiceHosts({ role, env }),
    fleet.frozen({ role, env }),
  ]);
  const outSet = new Set(out);
  // Only deploys in which some host succeeded can be what a host runs.
  const succeeded = recent.filter((deploy) => (deploy.counts.succeeded ?? 0) > 0);
  const hosts = (
    await Promise.all(
      members.map(async (member): Promise<HostView> => {
        const running = await runningDeploy(store, succeeded, member.name);
        return {
          name: member.name,
          addr: member.addr,
          serf: member.status,
          outOfService: outSet.has(member.name),
          ...(running ? { running: { tag: running.tag, deployId: running.id } } : {}),
        };
      }),
    )
  ).sort((a, b) => byHostName(a.name, b.name));
  const listed = new Set(hosts.map((host) => host.name));
  return {
    role,
    env,
    ...(desiredTag === undefined ? {} : { desiredTag }),
    hosts,
    outOfServiceUnlisted: out.filter((host) => !listed.has(host)),
    ...(frozen ? { frozen } : {}),
  };
}

/** Newest first: the first deploy `host` succeeded in is what it runs; each look is the host's own constant-size view. */
async function runningDeploy(store: DeployStore, deploys: readonly DeploySummary[], host: string): Promise<DeploySummary | undefined> {
  for (const deploy of deploys) {
    const view = await store.getHostView(deploy.id, host);
    if (view?.mine?.state === 'succeeded') return deploy;
  }
  return undefined;
}
