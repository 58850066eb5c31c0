import type { SerfCli } from './serf-cli.js';
import type { DeployGroup } from '../ports/fleet-state.js';
import { aliveHostsOf, type MemberCounter } from '../ports/membership.js';

/** Counts the alive hosts of a role and environment as the coordinator lists a deploy's targets. */
export class SerfMemberCounter implements MemberCounter {
  constructor(private readonly serf: SerfCli) {}

  async countAlive(group: DeployGroup): Promise<number> {
    return (await aliveHostsOf(this.serf, group.role, group.env)).length;
  }
}
