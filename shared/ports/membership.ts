// What the deploy logic asks of the fleet's membership and gossip: which hosts exist
// (Serf's member list) and how a new deploy is announced (a Serf user event). The Serf
// adapter in shared/serf implements both; tests use stand-ins.
import type { DeployEventPayload } from '../contract/schemas.js';
import type { DeployGroup } from './fleet-state.js';

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

/** What an agent needs to size the slots: the alive hosts of its group, itself included. */
export interface MemberCounter {
  countAlive(group: DeployGroup): Promise<number>;
}

/** Tells the fleet about a new deploy; the real one fires `serf event -coalesce=false deploy <json>`. */
export interface DeployEvents {
  fireDeploy(payload: DeployEventPayload): Promise<void>;
}
