// What `grapevine deploy` sends and prints, the same whichever way its line was read: by the
// lean reading (lean-deploy.ts) or by commander (deploy-commands.ts). No zod here: each
// reading checks the names before it builds the body.
import { ValidationError } from '../shared/contract/errors.js';
import type { CreateDeployBody } from '../shared/contract/schemas.js';

/** `grapevine deploy`'s own options, as commander names them (camelCase, strings as typed). */
export interface DeployOptions {
  env: string;
  tag?: string;
  wait?: boolean;
  force?: boolean;
  strategy?: string;
  cluster?: string;
  maxPerZone?: string;
  zoneAtATime?: boolean;
}

/** What the command prints of the deploy it started; `--wait` reads the rest. */
export interface StartedDeployLine {
  id: string;
  role: string;
  env: string;
  tag: string;
}

/**
 * The create's body, from names the caller has checked (role, --env, a --tag or --strategy
 * when not empty, a --cluster when given): each is sent as typed. The zone options are
 * checked here, as they always were, after the coordinator and token.
 */
export function deployBody(role: string, options: DeployOptions): CreateDeployBody {
  return {
    role,
    env: options.env,
    ...(options.tag ? { tag: options.tag } : {}),
    ...(options.strategy ? { strategy: options.strategy as NonNullable<CreateDeployBody['strategy']> } : {}),
    ...(options.force ? { force: true } : {}),
    ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
    ...zoneOptions(options),
  };
}

export function startedLine(deploy: StartedDeployLine): string {
  return `deploy ${deploy.id} of ${deploy.role}:${deploy.tag} to ${deploy.env} started`;
}

/** --max-per-zone N (a whole number of at least 1) or --zone-at-a-time, never both: refused before anything is sent. */
function zoneOptions(options: { maxPerZone?: string; zoneAtATime?: boolean }): { maxPerZone?: number; zoneAtATime?: boolean } {
  if (options.maxPerZone !== undefined && options.zoneAtATime) throw new ValidationError('--max-per-zone and --zone-at-a-time: choose one');
  if (options.zoneAtATime) return { zoneAtATime: true };
  if (options.maxPerZone === undefined) return {};
  const max = Number(options.maxPerZone);
  if (!/^\d+$/.test(options.maxPerZone.trim()) || !Number.isSafeInteger(max) || max < 1) {
    throw new ValidationError(`--max-per-zone must be a whole number of at least 1, got ${JSON.stringify(options.maxPerZone)}`);
  }
  return { maxPerZone: max };
}
