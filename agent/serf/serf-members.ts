import { rolesTagPattern, type SerfCli } from '../../shared/serf/serf-cli.js';
import type { DeployGroup } from '../locks/slot-locks.js';
import type { MemberCounter } from '../deploy/deploy-runner.js';

/** Counts the alive hosts of a role and environment from Serf's member list. */
export class SerfMemberCounter implements MemberCounter {
  constructor(private readonly serf: SerfCli) {}

  async countAlive(group: DeployGroup): Promise<number> {
    const members = await this.serf.members({
      tags: { env: group.env, roles: rolesTagPattern(group.role) },
      status: 'alive',
    });
    return members.length;
  }
}
