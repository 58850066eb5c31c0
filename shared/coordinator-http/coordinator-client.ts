// How the CLI and the agents talk to the coordinator's HTTP API: every answer is parsed
// with the shared schemas and every failure becomes a GrapevineError a caller can act on.
import { FreezeMark, FreezeState, type FreezeBody } from '../contract/freeze.js';
import * as z from 'zod';
import {
  type CatchUpBody,
  type CreateDeployBody,
  Deploy,
  DeployStatus,
  ForgottenHost,
  OutOfServiceList,
  type HostReport,
  type PublishReleaseBody,
  Release,
  type RollbackBody,
} from '../contract/schemas.js';
import { CreatedToken, type CreateTokenBody, CredentialList, RevokedCredential } from '../contract/token-schemas.js';
import { AuditPage } from '../contract/audit-entry.js';
import { DeploySummary, HostDeployView, HostReportPage } from '../contract/deploy-views.js';
import { GroupColourAnswer, SwitchAnswer } from '../contract/strategy-answers.js';
import type { Credential } from '../ports/credentials.js';
import { SerfKeyList, SerfKeyRotation } from '../contract/serf-key-schemas.js';
import { CoordinatorCaller, type CallMethod } from './coordinator-call.js';

const FrozenAnswer = z.object({ frozen: FreezeMark });
const UnfrozenAnswer = z.object({ unfrozen: FreezeMark, frozenMs: z.number(), extended: z.array(z.string()) });
export type UnfrozenAnswer = z.infer<typeof UnfrozenAnswer>;

/** `GET /v1/groups/:role/:env/colour`: blue until a blue/green deploy switches the group. */
export { GroupColourAnswer } from '../contract/strategy-answers.js';

export interface CoordinatorClientOptions {
  /** Base URL, e.g. `https://10.0.0.5:7700`; or several (a list, or comma-separated), the fleet's coordinators, tried in turn when one is unreachable. */
  url: string | readonly string[];
  token: string;
  /** PEM file of the CAs an https:// coordinator's certificate is checked against; Node.js's public CAs unless set. */
  caFile?: string | undefined;
  /** Per request, connecting included; 10 s unless set. */
  timeoutMs?: number;
  /**
   * The caller's own name (an agent's host name): with several URLs, the first one tried is
   * picked by it, so a fleet's agents share the coordinators instead of all asking the first.
   * Unset (the CLI), the first URL is tried first.
   */
  spreadBy?: string;
}

export interface DeployListFilter {
  role?: string;
  env?: string;
  /** 1-200; the coordinator returns 20 when unset. */
  limit?: number;
  /** The `next` of the previous page. */
  cursor?: string;
}

export interface AuditRequest {
  role?: string;
  env?: string;
  since?: string;
  limit?: number;
}

/** Who marks it is the credential the client presents. */
export interface MarkBrokenRequest {
  reason: string;
}

export interface ForgetRequest {
  /** Forget the host even while it holds a slot and Serf lists it alive (it is deploying). */
  force?: boolean;
  /** Who forgets it and why, for the coordinator's log. */
  by?: string;
  reason?: string;
}

const Health = z.object({ ok: z.boolean() });
const ReleaseList = z.object({ releases: z.array(Release) });
const SummaryPage = z.object({ deploys: z.array(DeploySummary), next: z.string().optional() });
const HostViewPage = z.object({ deploys: z.array(HostDeployView), next: z.string().optional() });
const ReportAnswer = z.object({ status: DeployStatus });

export class CoordinatorClient {
  readonly #caller: CoordinatorCaller;

  constructor(options: CoordinatorClientOptions) {
    this.#caller = new CoordinatorCaller(options);
  }

  /** The coordinator the next request goes to first: the one that answered last. */
  get url(): string {
    return this.#caller.endpoints.current;
  }

  /** Closes the connections kept open between requests (a host done with the coordinator); a request after it opens a new one. */
  close(): void {
    this.#caller.close();
  }

  /** Resolves when the coordinator and its Redis answer; a coordinator whose Redis is down is unreachable. */
  async health(): Promise<{ ok: true }> {
    await this.#request('GET', '/healthz', Health);
    return { ok: true };
  }

  /** Publishing the same role, tag and image again returns the stored release. */
  async publishRelease(body: PublishReleaseBody): Promise<Release> {
    return this.#request('POST', '/v1/releases', Release, body);
  }

  /** Newest first. */
  async listReleases(role: string): Promise<Release[]> {
    return (await this.#request('GET', `/v1/releases/${encodeURIComponent(role)}`, ReleaseList)).releases;
  }

  /** Marks the release broken and stops its rollouts in every environment at once; answers with the release. */
  async markBroken(role: string, tag: string, request: MarkBrokenRequest): Promise<Release> {
    return this.#request('POST', `/v1/releases/${encodeURIComponent(role)}/${encodeURIComponent(tag)}/broken`, Release, request);
  }

  async createDeploy(body: CreateDeployBody): Promise<Deploy> {
    return this.#request('POST', '/v1/deploys', Deploy, body);
  }

  /**
   * Deploys again the newest tag that succeeded in the role and environment, is not broken
   * and is not the one wanted there now; the Deploy it answers carries `rollbackOf`.
   * A ConflictError with code `nothing_to_roll_back` when there is none.
   */
  async rollback(role: string, env: string, options: { runJob?: boolean; force?: boolean } = {}): Promise<Deploy> {
    const body: RollbackBody = { role, env, ...(options.runJob ? { runJob: true } : {}), ...(options.force ? { force: true } : {}) };
    return this.#request('POST', '/v1/rollbacks', Deploy, body);
  }

  /**
   * Asks for `host` to be brought to its group's release: the catch-up deploy to run (a new
   * one, or the one under way), or null when the host runs that release already. A
   * ConflictError when it must not catch up now; its code says why: release_broken,
   * rollout_in_progress, rollout_not_succeeded, nothing_to_catch_up.
   */
  async requestCatchUp(body: CatchUpBody): Promise<Deploy | null> {
    return this.#request('POST', '/v1/catch-ups', Deploy.nullable(), body);
  }

  async getDeploy(id: string): Promise<Deploy> {
    return this.#request('GET', `/v1/deploys/${encodeURIComponent(id)}`, Deploy);
  }

  /** Summaries (counts per state, no host reports), newest first: one page, and the cursor of the next. */
  async listDeployPage(filter: DeployListFilter = {}): Promise<{ deploys: DeploySummary[]; next?: string | undefined }> {
    return this.#request('GET', `/v1/deploys${listQuery(filter)}`, SummaryPage);
  }

  /** Summaries newest first (the first page). */
  async listDeploys(filter: DeployListFilter = {}): Promise<DeploySummary[]> {
    return (await this.listDeployPage(filter)).deploys;
  }

  /** One host's view of each of its group's deploys, newest first (the first page): its report and whether it is a target. */
  async listHostViews(filter: DeployListFilter & { role: string; env: string; host: string }): Promise<HostDeployView[]> {
    return (await this.#request('GET', `/v1/deploys${listQuery(filter)}`, HostViewPage)).deploys;
  }

  /** What a host needs of a deploy, constant in size whatever the fleet; `host` defaults to the credential's own. */
  async getHostView(id: string, host?: string): Promise<HostDeployView> {
    const search = host === undefined ? '' : `?host=${encodeURIComponent(host)}`;
    return this.#request('GET', `/v1/deploys/${encodeURIComponent(id)}/host-view${search}`, HostDeployView);
  }

  async getSummary(id: string): Promise<DeploySummary> {
    return this.#request('GET', `/v1/deploys/${encodeURIComponent(id)}/summary`, DeploySummary);
  }

  /** One page of the deploy's host reports (in no fixed order); `next` is absent on the last. */
  async hostReports(id: string, page: { limit?: number; cursor?: string } = {}): Promise<HostReportPage> {
    const search = new URLSearchParams();
    if (page.limit !== undefined) search.set('limit', String(page.limit));
    if (page.cursor !== undefined) search.set('cursor', page.cursor);
    return this.#request('GET', `/v1/deploys/${encodeURIComponent(id)}/hosts${search.size > 0 ? `?${search.toString()}` : ''}`, HostReportPage);
  }

  /**
   * The fleet's audit log, newest first: at most `limit` entries (100 unless given, at most
   * 1000) of the role and environment, written since `since` (`30m`, `7d` back from the
   * coordinator's clock, or an ISO time). `more` says older matching entries were left out.
   */
  async audit(query: AuditRequest = {}): Promise<AuditPage> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
    return this.#request('GET', `/v1/audit${search.size > 0 ? `?${search.toString()}` : ''}`, AuditPage);
  }

  /** Sends one host's whole report; answers with the deploy's status after it. */
  async report(id: string, report: HostReport): Promise<{ status: DeployStatus }> {
    return this.#request('POST', `/v1/deploys/${encodeURIComponent(id)}/reports`, ReportAnswer, report);
  }

  /** A new scoped credential (operator only): the token is in this answer and nowhere else. */
  async createToken(body: CreateTokenBody): Promise<CreatedToken> {
    return this.#request('POST', '/v1/tokens', CreatedToken, body);
  }

  /** Every credential that has not expired, oldest first; no token in it. */
  async listTokens(): Promise<Credential[]> {
    return (await this.#request('GET', '/v1/tokens', CredentialList)).credentials;
  }

  /** Revokes a credential by id: its token is refused from then on. A NotFoundError when there is none. */
  async revokeToken(id: string): Promise<void> {
    await this.#request('DELETE', `/v1/tokens/${encodeURIComponent(id)}`, RevokedCredential);
  }

  /**
   * Which colour of a blue/green group serves and which was retired (stopped): a host's
   * reconcile puts the live colour back in service at full weight and the other at 0.
   */
  async groupColour(role: string, env: string): Promise<GroupColourAnswer> {
    return this.#request('GET', `${groupPath(role, env)}/colour`, GroupColourAnswer);
  }

  /** Moves a blue/green group's traffic back to the colour it left (`grapevine switch`). */
  async switchColour(role: string, env: string): Promise<SwitchAnswer> {
    return this.#request('POST', `${groupPath(role, env)}/switch`, SwitchAnswer);
  }

  /** A paused canary goes on (`promote`), or a canary before its rollout stops (`abort`); the deploy after. */
  async decideCanary(id: string, decision: 'promote' | 'abort'): Promise<Deploy> {
    return this.#request('POST', `/v1/deploys/${encodeURIComponent(id)}/${decision}`, Deploy);
  }

  /** Freezes the group: waiting hosts take no slot, new deploys are refused unless an operator forces them. */
  async freeze(role: string, env: string, body: FreezeBody): Promise<FreezeMark> {
    return (await this.#request('POST', `${groupPath(role, env)}/freeze`, FrozenAnswer, body)).frozen;
  }

  /** Lifts the group's freeze; a NotFoundError when it was not frozen. */
  async unfreeze(role: string, env: string): Promise<UnfrozenAnswer> {
    return this.#request('DELETE', `${groupPath(role, env)}/freeze`, UnfrozenAnswer);
  }

  /** The group's freeze, or null. */
  async frozen(role: string, env: string): Promise<FreezeMark | null> {
    return (await this.#request('GET', `${groupPath(role, env)}/freeze`, FreezeState)).frozen;
  }

  /** The hosts `role`/`env` counts out of service now, with what Serf says of each and the slot each holds. */
  async outOfService(role: string, env: string): Promise<OutOfServiceList> {
    return this.#request('GET', `${groupPath(role, env)}/out-of-service`, OutOfServiceList);
  }

  /**
   * Stops counting `host` out of service in `role`/`env`. A NotFoundError when it is not
   * counted; a ConflictError with code `host_deploying` while it holds a slot and Serf
   * lists it alive, unless `force`.
   */
  async forgetOutOfService(role: string, env: string, host: string, request: ForgetRequest = {}): Promise<ForgottenHost> {
    const query = new URLSearchParams();
    if (request.force) query.set('force', 'true');
    if (request.by !== undefined) query.set('by', request.by);
    if (request.reason !== undefined) query.set('reason', request.reason);
    const search = query.size > 0 ? `?${query.toString()}` : '';
    return this.#request('DELETE', `${groupPath(role, env)}/out-of-service/${encodeURIComponent(host)}${search}`, ForgottenHost);
  }

  /** Which keys the fleet's Serf members hold, as fingerprints. */
  async serfKeys(): Promise<SerfKeyList> {
    return this.#request('GET', '/v1/serf/keys', SerfKeyList);
  }

  /** Rotates the fleet's Serf key to `key`; each step waits for every member, a silent one for Serf's query timeout. */
  async rotateSerfKey(key: string): Promise<SerfKeyRotation> {
    return this.#request('POST', '/v1/serf/keys/rotate', SerfKeyRotation, { key }, KEY_ROTATION_TIMEOUT_MS);
  }

  /** A route with no method of its own here (cli/flag-commands.ts): the answer parsed with `schema`, every failure a GrapevineError. */
  async send<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    return this.#request(method, path, schema, body);
  }

  #request<T>(method: CallMethod, path: string, schema: z.ZodType<T>, body?: unknown, timeoutMs?: number): Promise<T> {
    return this.#caller.call(method, path, schema, body, timeoutMs);
  }
}

/** A rotation is five Serf key queries; each ends when every member answered, or after Serf's query timeout. */
const KEY_ROTATION_TIMEOUT_MS = 120_000;

const groupPath = (role: string, env: string) => `/v1/groups/${encodeURIComponent(role)}/${encodeURIComponent(env)}`;

function listQuery(filter: DeployListFilter & { host?: string }): string {
  const query = new URLSearchParams();
  for (const name of ['role', 'env', 'limit', 'cursor', 'host'] as const) if (filter[name] !== undefined) query.set(name, String(filter[name]));
  return query.size > 0 ? `?${query.toString()}` : '';
}
