// The local cluster's notification targets: each one's URL and signing secret go into files
// of mode 0600 in the cluster's folder, and the coordinator's config names those files, as
// an operator's would (README, "Insight"): no webhook URL or secret in a config or a log.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NotificationKind, NotificationTargetConfig } from '../shared/contract/notification-config.js';
import type { DevClusterState } from './cluster-state.js';

/** A webhook for the cluster's coordinator to notify, given with its URL and secret as such. */
export interface DevNotificationTarget {
  name: string;
  type: 'slack' | 'json';
  url: string;
  /** The HMAC secret of a `json` target. */
  secret?: string;
  role?: string[];
  env?: string[];
  events?: NotificationKind[];
}

/** Writes each target's files into <dir>/notifications/ and returns the targets as the coordinator's config names them. */
export function writeNotificationFiles(state: Pick<DevClusterState, 'dir'>, targets: readonly DevNotificationTarget[]): NotificationTargetConfig[] {
  const dir = join(state.dir, 'notifications');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return targets.map(({ url, secret, ...target }) => {
    const urlFile = secretFile(join(dir, `${target.name}.url`), url);
    return { ...target, urlFile, ...(secret === undefined ? {} : { secretFile: secretFile(join(dir, `${target.name}.secret`), secret) }) };
  });
}

function secretFile(file: string, text: string): string {
  writeFileSync(file, `${text}\n`, { mode: 0o600 });
  // The mode given to writeFileSync applies only to a file it creates.
  chmodSync(file, 0o600);
  return file;
}
