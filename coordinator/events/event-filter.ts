// Which fleet events one reader of `GET /v1/events` gets: those of one deploy (its start,
// each host's report, its end, a failed promotion of it, the deploy it promoted to, and the
// broken mark of its release), or of one role and/or environment; credential and Serf key
// changes go to operators only, as `token list` does.
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { DeployRef } from '../../shared/contract/fleet-events.js';

export interface EventFilter {
  /** The deploy a reader follows, with the role and tag its release's broken mark names. */
  deploy?: Pick<DeployRef, 'id' | 'role' | 'tag'>;
  role?: string;
  env?: string;
  /** Whether the reader may see credential and key changes. */
  operator: boolean;
}

const OPERATOR_ONLY: ReadonlySet<FleetEvent['kind']> = new Set(['token.created', 'token.revoked', 'serf.key-rotated']);

export function eventMatches(event: FleetEvent, filter: EventFilter): boolean {
  if (OPERATOR_ONLY.has(event.kind) && !filter.operator) return false;
  if (filter.deploy && !aboutDeploy(event, filter.deploy)) return false;
  if (filter.role !== undefined && groupOf(event).role !== filter.role) return false;
  // A release has no environment: its publication and broken mark concern every one of its role.
  if (filter.env !== undefined) {
    const { env, role } = groupOf(event);
    if (env === undefined ? role === undefined : env !== filter.env) return false;
  }
  return true;
}

function aboutDeploy(event: FleetEvent, deploy: Pick<DeployRef, 'id' | 'role' | 'tag'>): boolean {
  switch (event.kind) {
    case 'deploy.started':
      return event.deploy.id === deploy.id || event.deploy.promotedFrom === deploy.id;
    case 'deploy.finished':
    case 'host.reported':
    case 'promotion.failed':
      return event.deploy.id === deploy.id;
    case 'release.broken':
      return event.role === deploy.role && event.tag === deploy.tag;
    default:
      return false;
  }
}

/** The role and environment an event concerns, where it has them. */
function groupOf(event: FleetEvent): { role?: string; env?: string } {
  switch (event.kind) {
    case 'deploy.started':
    case 'deploy.finished':
    case 'host.reported':
    case 'promotion.failed':
      return { role: event.deploy.role, env: event.deploy.env };
    case 'release.published':
      return { role: event.release.role };
    case 'release.broken':
      return { role: event.role };
    case 'host.forgotten':
    case 'routes.changed':
    case 'cluster.retired':
      return { role: event.role, env: event.env };
    // A flag is its environment's, of no role.
    case 'flag.changed':
    case 'flag.killed':
      return { env: event.env };
    default:
      return {};
  }
}
