// What the deploy logic asks of the fleet's membership and gossip: which hosts exist
// (Serf's member list) and how a new deploy is announced (a Serf user event). The Serf
// adapter in shared/serf implements both; tests use stand-ins.
import type { DeployEventPayload, RetireEventPayload } from '../contract/schemas.js';

export interface SerfMember {
  name: string;
  addr: string;
  port: number;
  tags: Record<string, string>;
  status: string;
}

export interface MembershipFilter {
  /** Full-match regular expressions per tag, as `serf members -tag` takes them. */
  tags?: Record<string, string>;
  status?: string;
}

/** Anything that lists members the way `serf members` does. */
export interface Membership {
  members(filter?: MembershipFilter): Promise<SerfMember[]>;
}

/** Tells the fleet about a new deploy; the real one fires `serf event -coalesce=false deploy <json>`. */
export interface DeployEvents {
  fireDeploy(payload: DeployEventPayload): Promise<void>;
  /** Tells a blue/green group's hosts to stop the colour its traffic left: `serf event -coalesce=false retire <json>`. */
  fireRetire(payload: RetireEventPayload): Promise<void>;
}

/**
 * Names of the alive hosts of `role` in `env` (of one cluster of them, when given), sorted:
 * the hosts a deploy of that group reaches. The coordinator records them as a deploy's targets and every agent counts
 * them for its slots, so both ask the same question here.
 */
export async function aliveHostsOf(source: Membership, role: string, env: string, cluster?: string): Promise<string[]> {
  // A cluster name is [a-z0-9-] only (routing.ts clusterName), so it is its own full-match pattern.
  const tags = { env, roles: rolesTagPattern(role), ...(cluster === undefined ? {} : { cluster }) };
  const members = await source.members({ status: 'alive', tags });
  return [...new Set(members.map((member) => member.name))].sort();
}

/** Tag filter matching a member whose comma-separated `roles` tag includes `role`. */
export function rolesTagPattern(role: string): string {
  return `(.*,)?${role}(,.*)?`;
}
