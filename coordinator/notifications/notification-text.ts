// The one line a person reads of a notification, in a chat channel or a JSON receiver's log:
// what happened, to which role, tag and environment, in which deploy, started by whom.
import type { Notification } from './notification.js';

/** A host's error can run to 2000 characters; a chat line keeps the start, the JSON body keeps all. */
const MAX_REASON_CHARS = 400;

export function headline(notification: Omit<Notification, 'text'>): string {
  const { kind, role, env, tag, deploy } = notification;
  const release = `${role}:${tag}`;
  const by = deploy?.startedBy === undefined ? '' : `, started by ${deploy.startedBy}`;
  switch (kind) {
    case 'deploy.started':
      return `Deploy ${deploy?.id} started: ${release} to ${env}${hostCount(deploy?.hosts, deploy?.slots)}${by}.`;
    case 'rollback.started':
      return `Rollback ${deploy?.id} started: ${role} on ${env} back from ${deploy?.rollbackOf} to ${tag}${hostCount(deploy?.hosts, deploy?.slots)}${by}.`;
    case 'promotion.started':
      return `Promotion ${deploy?.id} started: ${release} to ${env} after deploy ${deploy?.promotedFrom} succeeded${hostCount(deploy?.hosts, deploy?.slots)}.`;
    case 'deploy.succeeded':
      return `${deployName(notification)} succeeded: ${release} on ${env}${hostCount(deploy?.hosts)}${took(deploy?.durationMs)}${by}.`;
    case 'deploy.failed':
    case 'deploy.cancelled':
    case 'deploy.partial': {
      const ended = kind === 'deploy.failed' ? 'failed' : kind === 'deploy.cancelled' ? 'was cancelled' : 'ended partial';
      return `${deployName(notification)} ${ended}: ${release} on ${env}${took(deploy?.durationMs)}: ${shortened(deploy?.reason ?? 'no reason given')}${by}.`;
    }
    case 'release.broken': {
      const mark = notification.release;
      const who = mark?.host === undefined ? ` by ${mark?.by}` : '';
      return `Release ${release} marked broken${who}: ${shortened(mark?.reason ?? 'no reason given')}. It can no longer be deployed; hosts still waiting stand down.`;
    }
    case 'group.frozen': {
      const until = notification.freeze?.until === undefined ? 'until unfrozen' : `until ${new Date(notification.freeze.until).toISOString()}`;
      return `${role} on ${env} frozen by ${notification.actor} ${until}: ${shortened(notification.freeze?.reason ?? 'no reason given')}. Waiting hosts take no slot; new deploys are refused unless forced.`;
    }
    case 'flag.changed':
      return `Flag ${notification.flag?.name} on ${env} ${notification.flag?.change} by ${notification.actor}: ${shortened(notification.flag?.summary ?? '')}.`;
    case 'flag.killed':
      return `Flag ${notification.flag?.name} on ${env} killed by ${notification.actor}: ${shortened(notification.flag?.reason ?? 'no reason given')}. Everyone gets its off variant until it is set on again.`;
    case 'group.unfrozen':
      return `${role} on ${env} unfrozen by ${notification.actor} after ${duration(notification.freeze?.frozenMs ?? 0)}; its rollouts resume.`;
    case 'routes.changed':
      return `Routes of ${role} on ${env} changed by ${notification.actor}: ${notification.routing?.change ?? 'changed'}. Now ${notification.routing?.routes ?? 'unknown'}.`;
    case 'cluster.retired':
      return `Cluster ${notification.routing?.cluster} of ${role} on ${env} retired by ${notification.actor}: ${notification.routing?.servers ?? 0} servers out of the load balancer.`;
    case 'promotion.failed': {
      const promotion = notification.promotion;
      return `Promotion of ${release} from ${promotion?.from} (deploy ${deploy?.id}) to ${promotion?.to} failed: ${shortened(promotion?.error ?? 'no error given')}.`;
    }
  }
}

/** "Deploy d-…", or what kind of deploy it was. */
function deployName({ deploy }: Omit<Notification, 'text'>): string {
  if (deploy?.catchUpOf !== undefined) return `Catch-up ${deploy.id} of ${deploy.hosts?.join(', ') ?? 'a host'} (to deploy ${deploy.catchUpOf})`;
  if (deploy?.rollbackOf !== undefined) return `Rollback ${deploy.id}`;
  if (deploy?.promotedFrom !== undefined) return `Promotion ${deploy.id}`;
  return `Deploy ${deploy?.id}`;
}

function hostCount(hosts: readonly string[] | undefined, slots?: number): string {
  if (hosts === undefined) return '';
  const count = `${hosts.length} host${hosts.length === 1 ? '' : 's'}`;
  return slots === undefined ? ` (${count})` : ` (${count}, ${slots} at a time)`;
}

function took(durationMs: number | undefined): string {
  return durationMs === undefined ? '' : ` in ${duration(durationMs)}`;
}

/** "850 ms", "42 s", "3 min 5 s", "1 h 2 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
}

function shortened(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= MAX_REASON_CHARS ? line : `${line.slice(0, MAX_REASON_CHARS - 1)}…`;
}
