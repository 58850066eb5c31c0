// What a host credential may touch beyond its scope's routes: deploys that target it or of a
// group it belongs to (by its Serf tags, read from the coordinator's own Serf agent and kept
// a few seconds), reports only as itself for deploys that target it, catch-ups only for itself.
// Every check passes any other credential through: its scope was checked by the route.
import { ForbiddenError, NotFoundError } from '../../shared/contract/errors.js';
import type { Credential } from '../../shared/ports/credentials.js';
import type { DeployStore } from '../../shared/ports/deploy-store.js';
import type { Membership } from '../../shared/ports/membership.js';
import { hostCatchUpRefusal, hostListRefusal, hostReadRefusal, hostReportRefusal, type DeployView } from './scopes.js';

/** How long the member list read for host checks is reused: an agent's reports and reads come in bursts. */
const MEMBERS_CACHE_MS = 5_000;
/** A host not in the group by a member list older than this is looked up again: it may have joined since. */
const MEMBERS_RECHECK_MS = 1_000;
/** Deploys whose targets are kept for report checks (targets never change once a deploy exists). */
const TARGETS_CACHE_SIZE = 1_000;

export interface HostAccessDeps {
  store: DeployStore;
  membership: Membership;
  now: () => number;
  membersCacheMs?: number;
}

export class HostAccess {
  readonly #deps: HostAccessDeps;
  #members: { at: number; tags: Promise<Map<string, Record<string, string>>> } | undefined;
  readonly #targets = new Map<string, DeployView>();

  constructor(deps: HostAccessDeps) {
    this.#deps = deps;
  }

  async checkRead(credential: Credential, deploy: DeployView): Promise<void> {
    const host = hostOf(credential);
    if (host === undefined) return;
    const inGroup = deploy.targets?.includes(host) ? true : await this.#inGroup(host, deploy.role, deploy.env);
    refuseIf(hostReadRefusal(host, deploy, inGroup));
  }

  async checkList(credential: Credential, filter: { role?: string | undefined; env?: string | undefined }): Promise<void> {
    const host = hostOf(credential);
    if (host === undefined) return;
    const named = filter.role !== undefined && filter.env !== undefined;
    refuseIf(hostListRefusal(host, filter, named && (await this.#inGroup(host, filter.role!, filter.env!))));
  }

  /** NotFoundError for an unknown deploy, ForbiddenError for a report as another host or for a deploy that does not target this one. */
  async checkReport(credential: Credential, deployId: string, reportHost: string): Promise<void> {
    const host = hostOf(credential);
    if (host === undefined) return;
    refuseIf(hostReportRefusal(host, reportHost, await this.#deploy(deployId)));
  }

  checkCatchUp(credential: Credential, requestHost: string): void {
    const host = hostOf(credential);
    if (host === undefined) return;
    refuseIf(hostCatchUpRefusal(host, requestHost));
  }

  async #deploy(id: string): Promise<DeployView> {
    const cached = this.#targets.get(id);
    if (cached) return cached;
    // The record alone (parsed once per change at the store): a report check needs no host's report.
    const deploy = await this.#deps.store.getRecord(id);
    if (!deploy) throw new NotFoundError(`no deploy ${id}`);
    const targets = new Set(deploy.targets ?? []);
    const view: DeployView = { id, role: deploy.role, env: deploy.env, targets: { includes: (host: string) => targets.has(host) } };
    if (this.#targets.size >= TARGETS_CACHE_SIZE) this.#targets.delete(this.#targets.keys().next().value!);
    this.#targets.set(id, view);
    return view;
  }

  /** Whether the host's Serf tags put it in role/env, as a deploy's targets are chosen. */
  async #inGroup(host: string, role: string, env: string): Promise<boolean> {
    const inGroup = (members: Map<string, Record<string, string>>) => {
      const tags = members.get(host);
      return tags !== undefined && tags.env === env && (tags.roles ?? '').split(',').includes(role);
    };
    if (inGroup(await this.#memberTags(this.#deps.membersCacheMs ?? MEMBERS_CACHE_MS))) return true;
    // A host that just joined is not refused for a list read before it did.
    return inGroup(await this.#memberTags(MEMBERS_RECHECK_MS));
  }

  /** The member list, read again when the one kept is `maxAgeMs` old. */
  #memberTags(maxAgeMs: number): Promise<Map<string, Record<string, string>>> {
    const { now, membership } = this.#deps;
    const cached = this.#members;
    if (cached && now() - cached.at < maxAgeMs) return cached.tags;
    const tags = membership.members().then((members) => new Map(members.map((member) => [member.name, member.tags])));
    this.#members = { at: now(), tags };
    // A failed read is not kept: the next request asks Serf again.
    tags.catch(() => {
      if (this.#members?.tags === tags) this.#members = undefined;
    });
    return tags;
  }
}

function hostOf(credential: Credential): string | undefined {
  if (credential.scope !== 'host') return undefined;
  // A host credential always names its host; one that does not may act as no host at all.
  if (credential.host === undefined) throw new ForbiddenError(`credential ${credential.id} has the host scope but names no host`);
  return credential.host;
}

function refuseIf(refusal: string | undefined): void {
  if (refusal !== undefined) throw new ForbiddenError(refusal);
}
