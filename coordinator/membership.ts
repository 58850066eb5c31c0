// Which hosts Serf says exist: a deploy's targets when it is created (aliveHostsOf), and
// which of them were lost since. The real implementation is SerfCli on the coordinator's
// own agent.
import type { MemberSource } from '../shared/serf/serf-cli.js';

export type Membership = MemberSource;
export type MembershipFilter = NonNullable<Parameters<MemberSource['members']>[0]>;
