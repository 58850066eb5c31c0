// Which hosts Serf says exist: a deploy's targets when it is created, and which of them
// were lost since. The real implementation is SerfCli on the coordinator's own agent.
import { rolesTagPattern, type SerfMember } from '../shared/serf/serf-cli.js';

export interface MembershipFilter {
  /** Full-match regular expressions per tag, as `serf members -tag` takes them. */
  tags?: Record<string, string>;
  status?: string;
}

export interface Membership {
  members(filter?: MembershipFilter): Promise<SerfMember[]>;
}

/** Names of the alive hosts that take part in a deploy of `role` to `env`, sorted. */
export async function targetHosts(membership: Membership, role: string, env: string): Promise<string[]> {
  const members = await membership.members({ status: 'alive', tags: { env, roles: rolesTagPattern(role) } });
  return [...new Set(members.map((member) => member.name))].sort();
}
