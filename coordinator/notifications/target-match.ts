// Which targets hear of a notification: their `events`, `role` and `env` lists, each
// matching everything when unset.
import type { NotificationTarget } from '../../shared/contract/notification-config.js';
import type { Notification } from './notification.js';

export function targetWants(target: Pick<NotificationTarget, 'roles' | 'envs' | 'events'>, notification: Notification): boolean {
  const { events, roles, envs } = target;
  if (events !== undefined && !events.includes(notification.kind)) return false;
  // A flag is of no role: a target that names roles hears only of those roles' news.
  if (roles !== undefined && (notification.role === undefined || !roles.includes(notification.role))) return false;
  if (envs === undefined) return true;
  // A broken release can be deployed in no environment of its role: every one of them hears of it.
  if (notification.kind === 'release.broken') return true;
  // A failed promotion concerns the environment it came from and the one it was for.
  if (notification.promotion !== undefined) return envs.includes(notification.promotion.from) || envs.includes(notification.promotion.to);
  return notification.env !== undefined && envs.includes(notification.env);
}
