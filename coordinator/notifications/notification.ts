// Which fleet events a person is told of, and what a notification says: one record per
// event, the same for every target. A JSON target receives it as it is (its `version` says
// which shape); a Slack target receives its text (slack-message.ts).
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { NotificationKind } from '../../shared/contract/notification-config.js';
import type { DeployStatus } from '../../shared/contract/schemas.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';
import { headline } from './notification-text.js';
import { describeRoutes } from '../../shared/contract/routing.js';

/** Bumped only when a field changes meaning or goes away; new fields may appear within a version. */
export const NOTIFICATION_VERSION = 1;

/** The deploy a notification is about. `id` always; the rest on the deploy kinds. */
export interface NotifiedDeploy {
  id: string;
  status?: DeployStatus;
  /** Who started it: a credential's actor, `coordinator` for a promotion, the host for a catch-up. */
  startedBy?: string;
  createdAt?: number;
  finishedAt?: number;
  durationMs?: number;
  /** Why it ended as it did; names the failing host(s) when it failed, stood down or ended partial. */
  reason?: string;
  /** The hosts that must each end it. */
  hosts?: string[];
  /** How many of them may deploy at once. */
  slots?: number;
  rollbackOf?: string;
  promotedFrom?: string;
  catchUpOf?: string;
}

/** The body a JSON target receives, version 1 (README, "Insight": notifications). */
export interface Notification {
  version: typeof NOTIFICATION_VERSION;
  /** The same on every try and for every target: a receiver drops a duplicate by it. */
  id: string;
  kind: NotificationKind;
  /** When it happened (ms since the epoch), by the coordinator's clock. */
  at: number;
  /** Who did it: a credential's actor, a host's name, or `coordinator`. */
  actor: string;
  /** Unset on `flag.changed` and `flag.killed`: a flag is its environment's, whatever the role. */
  role?: string;
  /** Unset on `release.broken`: a release is its role's in every environment. */
  env?: string;
  /** Unset on `group.frozen` and `group.unfrozen`: a freeze is its group's, whatever the release. */
  tag?: string;
  /** One line for a person, the same a Slack target shows. */
  text: string;
  /** The deploy's dashboard page; the dashboard's overview for a broken release. */
  url: string;
  deploy?: NotifiedDeploy;
  /** On `release.broken`: the mark. `host` is the failing host when a host's failure set it. */
  release?: { reason: string; by: string; host?: string };
  /** On `promotion.failed`: from which environment to which, and why not. */
  promotion?: { from: string; to: string; error: string };
  /** On `group.frozen` and `group.unfrozen`: why, until when (none: until unfrozen), and on unfreeze how long it lasted. */
  freeze?: { reason: string; until?: number; frozenMs?: number };
  /** On `flag.changed` and `flag.killed`: the flag, how it changed, and who gets what after (a kill's reason instead). */
  flag?: { name: string; change: 'created' | 'updated' | 'deleted' | 'killed'; summary?: string; reason?: string };
  /** On `routes.changed`: what changed and the table after, in words; on `cluster.retired`: the cluster and its servers taken out. */
  routing?: { change?: string; routes?: string; cluster?: string; servers?: number };
}

/**
 * The kind of notification an event makes, or undefined for one nobody is told of. A
 * catch-up brings one host to a release its environment already has: its start, its success
 * and its standing down (the release was marked broken, which is told on its own) are no news;
 * a catch-up that failed or ended partial is, since a host is left behind.
 */
export function notificationKindOf(event: FleetEvent): NotificationKind | undefined {
  switch (event.kind) {
    case 'deploy.started': {
      const { deploy } = event;
      if (deploy.catchUpOf !== undefined) return undefined;
      if (deploy.rollbackOf !== undefined) return 'rollback.started';
      if (deploy.promotedFrom !== undefined) return 'promotion.started';
      return 'deploy.started';
    }
    case 'deploy.finished': {
      const { status, catchUpOf } = event.deploy;
      if (status === 'in_progress') return undefined;
      if (catchUpOf !== undefined && (status === 'succeeded' || status === 'cancelled')) return undefined;
      return `deploy.${status}`;
    }
    case 'release.broken':
      return 'release.broken';
    case 'promotion.failed':
      return 'promotion.failed';
    case 'group.frozen':
      return 'group.frozen';
    case 'group.unfrozen':
      return 'group.unfrozen';
    case 'flag.changed':
      return 'flag.changed';
    case 'flag.killed':
      return 'flag.killed';
    case 'routes.changed':
      return 'routes.changed';
    case 'cluster.retired':
      return 'cluster.retired';
    default:
      return undefined;
  }
}

export interface NotificationContext {
  /** The notification's id (the delivery id receivers dedupe on). */
  id: string;
  /** The dashboard's base URL, with or without a trailing slash. */
  publicUrl: string;
}

/** The notification of `event`, or undefined when nobody is told of it. */
export function notificationOf(event: FleetEvent, context: NotificationContext): Notification | undefined {
  const kind = notificationKindOf(event);
  if (kind === undefined) return undefined;
  const base = context.publicUrl.replace(/\/+$/, '');
  const common = { version: NOTIFICATION_VERSION, id: context.id, kind, at: event.at, actor: event.actor } as const;
  let body: Omit<Notification, 'text'>;
  switch (event.kind) {
    case 'deploy.started':
    case 'deploy.finished': {
      const { deploy } = event;
      body = { ...common, role: deploy.role, env: deploy.env, tag: deploy.tag, url: deployPage(base, deploy.id), deploy: notifiedDeploy(deploy) };
      break;
    }
    case 'release.broken': {
      const host = event.reason.startsWith(`host ${event.actor} failed`) ? event.actor : undefined;
      body = {
        ...common,
        role: event.role,
        tag: event.tag,
        url: `${base}/ui`,
        release: { reason: event.reason, by: event.actor, ...(host === undefined ? {} : { host }) },
      };
      break;
    }
    case 'promotion.failed': {
      const { deploy } = event;
      body = {
        ...common,
        role: deploy.role,
        env: deploy.env,
        tag: deploy.tag,
        url: deployPage(base, deploy.id),
        deploy: { id: deploy.id },
        promotion: { from: deploy.env, to: event.to, error: event.error },
      };
      break;
    }
    case 'group.frozen':
      body = { ...common, role: event.role, env: event.env, url: `${base}/ui`, freeze: { reason: event.reason, ...(event.until === undefined ? {} : { until: event.until }) } };
      break;
    case 'group.unfrozen':
      body = { ...common, role: event.role, env: event.env, url: `${base}/ui`, freeze: { reason: event.reason, frozenMs: event.frozenMs } };
      break;
    case 'flag.changed':
      body = { ...common, env: event.env, url: `${base}/ui`, flag: { name: event.flag, change: event.change, summary: event.summary } };
      break;
    case 'flag.killed':
      body = { ...common, env: event.env, url: `${base}/ui`, flag: { name: event.flag, change: 'killed', ...(event.reason === undefined ? {} : { reason: event.reason }) } };
      break;
    case 'routes.changed':
      body = { ...common, role: event.role, env: event.env, url: `${base}/ui`, routing: { change: event.change, routes: describeRoutes(event.routes) } };
      break;
    case 'cluster.retired':
      body = { ...common, role: event.role, env: event.env, url: `${base}/ui`, routing: { cluster: event.cluster, servers: event.servers } };
      break;
    default:
      return undefined;
  }
  return { ...body, text: headline(body) };
}

function deployPage(base: string, id: string): string {
  return `${base}/ui/deploys/${encodeURIComponent(id)}`;
}

function notifiedDeploy(deploy: DeployRecord): NotifiedDeploy {
  const finished = deploy.status !== 'in_progress' && deploy.finishedAt !== undefined;
  return {
    id: deploy.id,
    status: deploy.status,
    ...(deploy.startedBy === undefined ? {} : { startedBy: deploy.startedBy }),
    createdAt: deploy.createdAt,
    ...(finished ? { finishedAt: deploy.finishedAt, durationMs: Math.max(0, (deploy.finishedAt ?? 0) - deploy.createdAt) } : {}),
    ...(deploy.reason === undefined ? {} : { reason: deploy.reason }),
    ...(deploy.targets === undefined ? {} : { hosts: [...deploy.targets] }),
    ...(deploy.slots === undefined ? {} : { slots: deploy.slots }),
    ...(deploy.rollbackOf === undefined ? {} : { rollbackOf: deploy.rollbackOf }),
    ...(deploy.promotedFrom === undefined ? {} : { promotedFrom: deploy.promotedFrom }),
    ...(deploy.catchUpOf === undefined ? {} : { catchUpOf: deploy.catchUpOf }),
  };
}
