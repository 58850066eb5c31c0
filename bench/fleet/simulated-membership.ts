// Serf's member list as the fleet bench sees it: every simulated host alive, of the bench's
// role and environment, and the warm-up deploy's hosts in an environment of their own,
// filtered as `serf members` filters.
import type { Membership, MembershipFilter, SerfMember } from '../../shared/ports/membership.js';
import { FLEET_ENV, FLEET_ROLE, FLEET_WARM_UP_ENV } from './fleet-messages.js';

/** Serf's member list as the simulated fleet: every host alive, of the bench's role and environment (the warm-up hosts of theirs). */
export class SimulatedMembership implements Membership {
  private readonly all: SerfMember[];

  constructor(names: readonly string[], warmUpNames: readonly string[] = []) {
    const member = (env: string) => (name: string, i: number): SerfMember => ({ name, addr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 7946, tags: { env, roles: FLEET_ROLE }, status: 'alive' });
    this.all = [...names.map(member(FLEET_ENV)), ...warmUpNames.map((name, i) => member(FLEET_WARM_UP_ENV)(name, names.length + i))];
  }

  async members(filter: MembershipFilter = {}): Promise<SerfMember[]> {
    // Full-match patterns, as `serf members -tag` takes them.
    const patterns = Object.entries(filter.tags ?? {}).map(([tag, pattern]) => [tag, new RegExp(`^(?:${pattern})$`)] as const);
    return this.all.filter((member) => (filter.status === undefined || member.status === filter.status) && patterns.every(([tag, re]) => re.test(member.tags[tag] ?? '')));
  }
}

