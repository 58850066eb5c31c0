// What happens in the fleet, as the coordinator sees it: each change it makes or is told
// of, with who made it. The coordinator publishes them in process (coordinator/fleet-event-bus.ts);
// the live event stream (`GET /v1/events`), the audit log, the notifications and the
// metrics are each built from them, never from reading every host.
import type { HostReport, Release } from './schemas.js';
import type { DeployRecord } from '../ports/deploy-store.js';
import type { Scope } from '../ports/credentials.js';
import type { RouteTable } from './routing.js';

/** The deploy an event is about, in the few fields every reader needs. */
export interface DeployRef {
  id: string;
  role: string;
  env: string;
  tag: string;
}

interface EventBase {
  /** When it happened (ms since the epoch), by the coordinator's clock. */
  at: number;
  /**
   * Who did it: a credential's actor (`deployer ci-web (t-3f9a2c1b)`), a host's name for its
   * own reports, `coordinator` for what the coordinator decides itself (a promotion, a
   * deadline, a host counted lost).
   */
  actor: string;
}

export type FleetEvent = EventBase &
  (
    | { kind: 'release.published'; release: Release }
    /** The release's first broken mark; a second mark on a broken release publishes nothing. */
    | { kind: 'release.broken'; role: string; tag: string; reason: string }
    /**
     * A new deploy: a rollout, a rollback (`rollbackOf`), a promotion (`promotedFrom`) or one
     * host's catch-up (`catchUpOf`), as the record says.
     */
    | { kind: 'deploy.started'; deploy: DeployRecord }
    /** A host's report as stored (the watchdog's `lost` report too, with actor `coordinator`). */
    | { kind: 'host.reported'; deploy: DeployRef; report: HostReport }
    /** The one time a deploy ends, with its outcome and reason on the record. */
    | { kind: 'deploy.finished'; deploy: DeployRecord }
    /** A succeeded deploy's promotion could not be created; `to` is the environment it was for. */
    | { kind: 'promotion.failed'; deploy: DeployRef; to: string; error: string }
    | { kind: 'token.created'; token: { id: string; scope: Scope; name: string; host?: string; expiresAt?: number } }
    /** Its scope and name when the credential was still listed (an expired one is revoked by id alone). */
    | { kind: 'token.revoked'; token: { id: string; scope?: Scope; name?: string } }
    /** An operator took a host out of its group's out-of-service count. */
    | { kind: 'host.forgotten'; role: string; env: string; host: string; forced: boolean; reason?: string }
    /** An operator froze a group: its waiting hosts take no slot, new deploys are refused unless forced. */
    | { kind: 'group.frozen'; role: string; env: string; reason: string; until?: number }
    /** The group's freeze was lifted by an operator; `frozenMs` is how long it lasted, which its deploys in progress got back. */
    | { kind: 'group.unfrozen'; role: string; env: string; reason: string; frozenMs: number }
    /** A blue/green group's traffic was moved back to the colour it left (`grapevine switch`): `servers` weighed in `ms`. */
    | { kind: 'group.switched'; role: string; env: string; live: 'blue' | 'green'; servers: number; ms: number }
    /** A group's route table changed (`grapevine route set|rm|default`): `change` says how, `routes` is the table after. */
    | { kind: 'routes.changed'; role: string; env: string; change: string; routes: RouteTable }
    /** A cluster of a group was retired: its `servers` in the load balancer went into maintenance. */
    | { kind: 'cluster.retired'; role: string; env: string; cluster: string; servers: number }
    /** A feature flag was created, set or deleted; `summary` says who gets what after it. */
    | { kind: 'flag.changed'; env: string; flag: string; change: 'created' | 'updated' | 'deleted'; version: number; summary: string }
    /** A flag's kill switch was pulled: everyone gets its off variant until it is set on again. */
    | { kind: 'flag.killed'; env: string; flag: string; reason?: string }
    /** The fleet's Serf gossip key changed. */
    | { kind: 'serf.key-rotated' }
  );

export type FleetEventKind = FleetEvent['kind'];

export function deployRef(deploy: DeployRef): DeployRef {
  return { id: deploy.id, role: deploy.role, env: deploy.env, tag: deploy.tag };
}
