// Who may do what, as pure rules: the scope order, and what a host credential may read and
// report. The middleware and HostAccess apply them; these say yes (undefined) or why not.
import type { Credential, Scope } from '../../shared/ports/credentials.js';

/** viewer < deployer < operator; a host credential ranks nowhere: it passes only where `host` is named. */
const RANK: Partial<Record<Scope, number>> = { viewer: 1, deployer: 2, operator: 3 };

/** Whether a credential of scope `have` passes a route open to `allowed` (each ranked scope admitting every higher one). */
export function scopeAllows(have: Scope, allowed: readonly Scope[]): boolean {
  if (allowed.includes(have)) return true;
  const rank = RANK[have];
  return rank !== undefined && allowed.some((scope) => (RANK[scope] ?? Infinity) <= rank);
}

/** How a credential is named in a refusal: its scope and name, never its secret. */
export function described(credential: Pick<Credential, 'scope' | 'name' | 'host'>): string {
  return credential.scope === 'host' ? `host ${credential.host ?? credential.name}` : `${credential.scope} ${credential.name}`;
}

/** `POST /v1/deploys needs the deployer scope; this credential (host h1) is host`. */
export function scopeRefusal(method: string, path: string, allowed: readonly Scope[], credential: Pick<Credential, 'scope' | 'name' | 'host'>): string {
  const ranked = allowed.filter((scope) => scope !== 'host');
  const needed = [...ranked, ...(allowed.includes('host') ? ['host'] : [])].join(' or ');
  return `${method} ${path} needs the ${needed} scope; this credential (${described(credential)}) is ${credential.scope}`;
}

export interface DeployView {
  id: string;
  role: string;
  env: string;
  /** The deploy's targets: a list, or for a checker that keeps them a set's membership test (10 000 names are 10 000 comparisons per report). */
  targets?: Pick<readonly string[], 'includes'> | undefined;
}

/** A host reads a deploy that targets it, or one of a group (role and environment) its Serf tags put it in. */
export function hostReadRefusal(host: string, deploy: DeployView, inGroup: boolean): string | undefined {
  if (deploy.targets?.includes(host) || inGroup) return undefined;
  return `host ${host} may read only deploys that target it or of a group it belongs to; deploy ${deploy.id} is of ${deploy.role}/${deploy.env} and does not target it`;
}

/** A host lists only its own group's deploys, so it must name the group. */
export function hostListRefusal(host: string, filter: { role?: string | undefined; env?: string | undefined }, inGroup: boolean): string | undefined {
  if (filter.role === undefined || filter.env === undefined) return `host ${host} may list only the deploys of its own group: name its role and env`;
  if (inGroup) return undefined;
  return `host ${host} may list only the deploys of its own group; it is not in ${filter.role}/${filter.env}`;
}

/** A host reports only as itself, and only for a deploy whose targets name it. */
export function hostReportRefusal(host: string, reportHost: string, deploy: DeployView): string | undefined {
  if (reportHost !== host) return `host ${host} may report only as itself, not as ${reportHost}`;
  if (!deploy.targets?.includes(host)) return `deploy ${deploy.id} does not target host ${host}; a host reports only for deploys that target it`;
  return undefined;
}

/** A host asks to catch up only for itself. */
export function hostCatchUpRefusal(host: string, requestHost: string): string | undefined {
  return requestHost === host ? undefined : `host ${host} may ask a catch-up only for itself, not for ${requestHost}`;
}
