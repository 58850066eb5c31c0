// The contract between CI, the coordinator and the agents: every body and payload
// crossing a process boundary is parsed with one of these.
import * as z from 'zod';
import { clusterName } from './routing.js';
import { ZoneRule } from './zone-rule.js';
import { deployId, envName, imageRef, nodeName, releaseTag, roleName } from './names.js';
import { Colour, StrategyKind } from './strategy.js';
import { StrategyState } from './strategy-state.js';

export const EVENT_SCHEMA_VERSION = 1;

export { STRATEGY_PHASES, StrategyPhase, StrategyState, StrategyStepState } from './strategy-state.js';

/** What `serf event deploy` carries: never the tag, which the agent asks the coordinator for. */
export const DeployEventPayload = z.object({
  v: z.literal(EVENT_SCHEMA_VERSION),
  role: roleName,
  env: envName,
  id: deployId,
});
export type DeployEventPayload = z.infer<typeof DeployEventPayload>;

/**
 * What `serf event retire` carries once a blue/green switch's old colour has been kept long
 * enough: hosts of the group stop that colour's containers and put its server in maintenance,
 * unless the group's live colour (the coordinator's answer, asked again) is that colour.
 */
export const RetireEventPayload = z.object({
  v: z.literal(EVENT_SCHEMA_VERSION),
  role: roleName,
  env: envName,
  colour: Colour,
  /** The deploy whose switch left the colour idle. */
  id: deployId,
});
export type RetireEventPayload = z.infer<typeof RetireEventPayload>;

export const PublishReleaseBody = z.object({
  role: roleName,
  tag: releaseTag,
  image: imageRef.optional(),
});
export type PublishReleaseBody = z.infer<typeof PublishReleaseBody>;

/** Why a release must never be deployed again: who marked it (a host, `coordinator`, an operator), why and when. */
export const BrokenMark = z.object({ reason: z.string(), by: z.string(), at: z.number() });
export type BrokenMark = z.infer<typeof BrokenMark>;

export const Release = z.object({
  role: roleName,
  tag: releaseTag,
  /** What hosts run: the image pinned to its digest (REGISTRY/NAME@sha256:...) when it was published. */
  image: imageRef,
  /** The image reference as published (its tag) and the digest the registry resolved it to then; unset on releases published before digests. */
  publishedImage: imageRef.optional(),
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/, 'must be sha256: and 64 hex digits').optional(),
  publishedAt: z.number(),
  broken: BrokenMark.optional(),
});
export type Release = z.infer<typeof Release>;

export const CreateDeployBody = z.object({
  role: roleName,
  env: envName,
  tag: releaseTag.optional(),
  /** Overrides the role's strategy in the coordinator's config for this deploy. */
  strategy: StrategyKind.optional(),
  /** Deploys a frozen group anyway (an operator's fix during a freeze). */
  force: z.boolean().optional(),
  /** Only the group's hosts whose Serf tag `cluster` is this one (red-white routing), with k of that cluster's hosts. */
  cluster: clusterName.optional(),
  /** At most this many hosts of one zone (Serf tag `zone`; none is zone "") out of service at once. */
  maxPerZone: z.number().int('must be a whole number').min(1, 'must be at least 1').optional(),
  /** Hosts of only one zone out of service at once. */
  zoneAtATime: z.boolean().optional(),
});
export type CreateDeployBody = z.infer<typeof CreateDeployBody>;

/** Body of `POST /v1/releases/:role/:tag/broken`. Who marks it is the request's credential; a `by` sent by an older client is ignored. */
export const MarkBrokenBody = z.object({
  reason: z.string().min(1).max(2000),
});
export type MarkBrokenBody = z.infer<typeof MarkBrokenBody>;

/** Body of `POST /v1/rollbacks`: deploy again the release that last succeeded before the current one. */
export const RollbackBody = z.object({
  role: roleName,
  env: envName,
  /** Run the role's once-per-deploy job (a migration) with the rollback too; a rollback skips it unless asked. */
  runJob: z.boolean().optional(),
  /** Rolls a frozen group back anyway (an operator's fix during a freeze). */
  force: z.boolean().optional(),
});
export type RollbackBody = z.infer<typeof RollbackBody>;

/** Body of `POST /v1/catch-ups`: a host that runs something other than its group's release asks to be brought to it. */
export const CatchUpBody = z.object({
  role: roleName,
  env: envName,
  host: nodeName,
  /** The image the host's container runs now; null when none runs. */
  image: imageRef.nullable(),
  /** The host's `cluster` tag: only rollouts to the whole group or to this cluster are caught up to. */
  cluster: clusterName.optional(),
});
export type CatchUpBody = z.infer<typeof CatchUpBody>;

export const HOST_STEPS = [
  'received',
  'job',
  'waiting',
  'slot',
  'before-drain',
  'drain',
  'pull',
  'up',
  'health',
  'after-up',
  'register',
  'after-register',
  'release',
] as const;
export const HostStep = z.enum(HOST_STEPS);
export type HostStep = z.infer<typeof HostStep>;

/**
 * `failed`: the release is at fault (it breaks the release); `errored`: a service the host
 * needs did not answer in time (the host put its previous version back; the release stays deployable).
 */
export const HOST_STATES = ['waiting', 'deploying', 'succeeded', 'failed', 'errored', 'cancelled', 'lost'] as const;
export const HostState = z.enum(HOST_STATES);
export type HostState = z.infer<typeof HostState>;
export const FINAL_HOST_STATES: ReadonlySet<HostState> = new Set(['succeeded', 'failed', 'errored', 'cancelled', 'lost']);

/** The once-per-deploy job (e.g. a migration): who ran it, how it ended and the tail of its output. */
export const JobRecord = z.object({
  service: z.string().max(200),
  host: nodeName,
  state: z.enum(['running', 'succeeded', 'failed']),
  /** 1 for the first host to take the job; more when a host took over from one whose lease lapsed. */
  attempt: z.number().int().positive(),
  startedAt: z.number(),
  endedAt: z.number().optional(),
  exitCode: z.number().int().nullable().optional(),
  /** The last lines the job wrote (stdout and stderr). */
  output: z.string().max(4000).optional(),
  error: z.string().max(2000).optional(),
});
export type JobRecord = z.infer<typeof JobRecord>;

export const HostReport = z.object({
  host: nodeName,
  state: HostState,
  /** Steps this host has reached, each with the time it started (ms since the epoch). */
  steps: z.array(z.object({ step: HostStep, at: z.number() })).max(HOST_STEPS.length),
  slot: z.number().int().positive().optional(),
  /** The grant's number among the group's slot grants (its fencing epoch): which grant the host acted under. */
  epoch: z.number().int().positive().optional(),
  /** Matching alive hosts this agent counted when the event reached it. */
  counted: z.number().int().nonnegative().optional(),
  /** Hosts of this deploy still to finish, after this host's own decrement. */
  remaining: z.number().int().optional(),
  error: z.string().max(2000).optional(),
  /** When the host reached its final state (ms since the epoch); a host that stood down while waiting has no step then. */
  endedAt: z.number().optional(),
  /** Set by the host that ran the deploy's once-per-deploy job; the coordinator keeps it as the deploy's `job`. */
  job: JobRecord.optional(),
});
export type HostReport = z.infer<typeof HostReport>;

export const DEPLOY_STATUSES = ['in_progress', 'succeeded', 'failed', 'cancelled', 'partial'] as const;
export const DeployStatus = z.enum(DEPLOY_STATUSES);
export type DeployStatus = z.infer<typeof DeployStatus>;

export const Deploy = z.object({
  id: deployId,
  role: roleName,
  env: envName,
  tag: releaseTag,
  image: imageRef,
  status: DeployStatus,
  createdAt: z.number(),
  /** Order of this deploy among its role and environment's, from the coordinator: an agent never applies a lower one than it has. */
  seq: z.number().int().positive().optional(),
  /** Past this moment (ms since the epoch) the coordinator ends the deploy; agents keep an unsent report until then. */
  deadlineAt: z.number().optional(),
  /** Time the deploy spent parked by freezes of its group, given back to its deadline on each unfreeze. */
  frozenMs: z.number().int().nonnegative().optional(),
  finishedAt: z.number().optional(),
  reason: z.string().optional(),
  expectedHosts: z.number().int().nonnegative().optional(),
  /** How many of the targets may be out of service at once (k = ceil(n/3) by default), fixed when the deploy is created. */
  slots: z.number().int().positive().optional(),
  /** The deploy's cap on hosts out of service per zone (`--max-per-zone`, `--zone-at-a-time`); none when absent. */
  zoneRule: ZoneRule.optional(),
  /** Alive hosts whose tags matched when the deploy was created: the hosts that must each end it. */
  targets: z.array(nodeName).optional(),
  /** Who started it: the actor of the credential that asked (`deployer ci-web (t-3f9a2c1b)`), `coordinator` for a promotion, the host for a catch-up. */
  startedBy: z.string().max(300).optional(),
  /** Set on a rollback: the tag it replaces. */
  rollbackOf: releaseTag.optional(),
  /** Set on a catch-up: the rollout whose release one host that missed it is brought to; that host is its only target. */
  catchUpOf: deployId.optional(),
  /** Set on a deploy the coordinator created because this one's source deploy succeeded. */
  promotedFrom: deployId.optional(),
  /** Set on a succeeded deploy that promoted its tag to the next environment. */
  promotedTo: deployId.optional(),
  /** Set instead of promotedTo when the promotion was due but could not be created. */
  promotion: z.object({ error: z.string() }).optional(),
  /** Whether the hosts run the role's once-per-deploy job: unset or true runs it; a rollback or a catch-up sets false unless asked. */
  runJob: z.boolean().optional(),
  /** The once-per-deploy job as the host that ran it last reported it. */
  job: JobRecord.optional(),
  /** Set on a canary or blue/green deploy: its strategy's progress. A rolling deploy has none. */
  strategy: StrategyState.optional(),
  /** Set on a deploy to a blue/green role: the colour each host replaces (the idle one for a blue/green deploy, the live one otherwise). */
  colour: Colour.optional(),
  /** Set on a deploy to one cluster of the group (`--cluster`): its targets are that cluster's hosts only. */
  cluster: clusterName.optional(),
  hosts: z.record(z.string(), HostReport),
  /** Set when `hosts` holds only the first page of a large deploy: the cursor of the rest (`GET /v1/deploys/:id/hosts`). */
  hostsNext: z.string().optional(),
});
export type Deploy = z.infer<typeof Deploy>;

/**
 * A host its group counts out of service (it took a slot and has not served since), with
 * what is known of it: `serf` is Serf's status for it (alive, leaving, left, failed),
 * `not-listed`, or `unknown` when Serf could not be asked; `slot` the slot key it holds
 * now (a live lease: it is deploying), or null.
 */
export const OutOfServiceHost = z.object({
  host: nodeName,
  serf: z.string(),
  slot: z.number().int().positive().nullable(),
});
export type OutOfServiceHost = z.infer<typeof OutOfServiceHost>;

/** Answer of `GET /v1/groups/:role/:env/out-of-service`. */
export const OutOfServiceList = z.object({
  role: roleName,
  env: envName,
  /** The group's newest deploy and its k (slots), or null when the group has none. */
  deploy: z.object({ id: deployId, status: DeployStatus, slots: z.number().int().positive().optional() }).nullable(),
  hosts: z.array(OutOfServiceHost),
  /** Why Serf could not be asked, when it could not (every `serf` then reads `unknown`). */
  serfError: z.string().optional(),
});
export type OutOfServiceList = z.infer<typeof OutOfServiceList>;

/** Answer of `DELETE /v1/groups/:role/:env/out-of-service/:host`: what was known of the host, and whether it left the set. */
export const ForgottenHost = OutOfServiceHost.extend({
  role: roleName,
  env: envName,
  /** False only when the host left the set by itself between the check and the removal (it served again). */
  removed: z.boolean(),
  /** Whether `force` overrode the refusal to forget a host that is deploying. */
  forced: z.boolean(),
});
export type ForgottenHost = z.infer<typeof ForgottenHost>;

// Defined apart (parse-input.ts), so a command that checks a name builds no other schema.
export { parseOrThrow, describeIssues } from './parse-input.js';
