// The one way a deploy comes to exist, whoever asks: CI, a rollback, or a promotion.
// It checks the release, snapshots the hosts that must take part, stores the record and
// fires the Serf event.
import { randomBytes } from 'node:crypto';
import { ConflictError, errorMessage, GrapevineError, UnreachableError } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import { slotCount } from '../shared/contract/slot-count.js';
import { zoneRuleOf } from '../shared/contract/zone-rule.js';
import { type CreateDeployBody, type Deploy, EVENT_SCHEMA_VERSION } from '../shared/contract/schemas.js';
import { aliveHostsOf, type DeployEvents, type Membership } from '../shared/ports/membership.js';
import type { DeployRecord, DeployStore } from '../shared/ports/deploy-store.js';
import type { FleetEventPublisher } from './fleet-event-bus.js';
import type { StrategyPlan } from './strategies/strategy-plan.js';
import type { FleetControl } from '../shared/ports/fleet-state.js';
import type { Scope } from '../shared/ports/credentials.js';
import { refuseIfFrozen } from './freeze-check.js';
import type { RouteStore } from '../shared/ports/route-store.js';
import type { GroupLocks } from './leadership/group-lock.js';

/** Why a deploy exists when no one asked for it by tag. */
export type DeployOrigin = Partial<Pick<DeployRecord, 'rollbackOf' | 'promotedFrom' | 'runJob' | 'startedBy'>>;

/** Time-ordered and unique enough for one coordinator: `d-` + base36 milliseconds + 8 random hex digits. */
export function newDeployId(now = Date.now()): string {
  return `d-${now.toString(36)}${randomBytes(4).toString('hex')}`;
}

/** The coordinator's default deployDeadlineMs. */
export const DEFAULT_DEADLINE_MS = 30 * 60_000;

/** What every way of creating a deploy (a rollout, a catch-up) shares. */
export interface DeployCreationDeps {
  store: DeployStore;
  membership: Membership;
  /** How many targets may deploy at once: "1/3", "0.25" or a whole number. */
  slots: number | string;
  /** How long a deploy may run before the coordinator ends it; DEFAULT_DEADLINE_MS unless given. */
  deadlineMs?: number;
  logger: Logger;
  now: () => number;
  newId: () => string;
  /** Told of every deploy created and of one that ends at its creation. */
  fleetEvents: FleetEventPublisher;
}

export interface DeployStarterDeps extends DeployCreationDeps {
  events: DeployEvents;
  /** The deploy's strategy (coordinator/strategies/strategy-plan.ts); every deploy is rolling without it. */
  planStrategy?: (request: CreateDeployBody, targets: readonly string[]) => Promise<StrategyPlan>;
  /** Closes a canary deploy's gate before its event fires, so only the canary set can take a slot. */
  gates?: { closeGate(group: { role: string; env: string }, deployId: string, hosts: readonly string[]): Promise<void> };
  /** Where a group's freeze is read: a frozen group takes no new deploy unless an operator forces it. No check without it. */
  freezes?: Pick<FleetControl, 'frozen'>;
  /** A deploy to a retired cluster brings it back: its hosts may serve again once they deploy. */
  retiredClusters?: Pick<RouteStore, 'unretire' | 'retired'>;
  /** The group's lock, held from reading the retired clusters to storing the record: a catch-up's check and a retire's see it whole. */
  locks: GroupLocks;
}

/** How a deploy the coordinator starts by itself differs from one asked for. */
export interface StartOptions {
  /** Only these hosts (of the group's alive ones) take part: a quarantine's or a canary's rollback. The group's own k still holds. */
  only?: readonly string[];
  /** The scope of the credential asking: only an operator's `force` gets a deploy past a freeze. None: the coordinator's own (a promotion), which never forces. */
  scope?: Scope;
}

/**
 * A new deploy record of `release` to `targets`, in progress from now, with its deadline
 * stored so agents know how long an unacknowledged report is worth keeping.
 */
export function newDeployRecord(
  deps: Pick<DeployCreationDeps, 'now' | 'newId' | 'deadlineMs'>,
  release: { role: string; tag: string; image: string },
  fields: { env: string; targets: string[]; slots: number } & Partial<Pick<DeployRecord, 'rollbackOf' | 'promotedFrom' | 'catchUpOf' | 'runJob' | 'startedBy' | 'strategy' | 'colour' | 'cluster' | 'zoneRule'>>,
): DeployRecord {
  const createdAt = deps.now();
  const { env, targets, ...rest } = fields;
  return {
    id: deps.newId(),
    role: release.role,
    env,
    tag: release.tag,
    image: release.image,
    status: 'in_progress',
    createdAt,
    deadlineAt: createdAt + (deps.deadlineMs ?? DEFAULT_DEADLINE_MS),
    expectedHosts: targets.length,
    targets,
    ...rest,
  };
}

export class DeployStarter {
  readonly #deps: DeployStarterDeps;
  readonly #logger: Logger;

  constructor(deps: DeployStarterDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'deploy-starter' });
  }

  /**
   * Creates and announces a deploy of `tag` (the newest release when unset). Throws
   * group_frozen (403 when a non-operator forces), release_not_found, release_broken,
   * no_hosts (nothing stored, nothing fired), or an
   * UnreachableError when Serf cannot be asked or told (the deploy is then stored as failed).
   */
  async start(request: CreateDeployBody, origin: DeployOrigin = {}, options: StartOptions = {}): Promise<Deploy> {
    const { store, events, membership, now } = this.#deps;
    const { role, env, tag, cluster } = request;
    const zoneRule = zoneRuleOf(request);
    if (this.#deps.freezes) await refuseIfFrozen(this.#deps.freezes, { role, env }, request.force === true, options.scope);
    // Serf is asked while Redis is read: both are on the path of every `grapevine deploy`.
    const lookup = aliveHostsOf(membership, role, env, cluster).then(
      (hosts) => ({ hosts }),
      (error: unknown) => ({ error }),
    );
    const release = tag === undefined ? await store.newestRelease(role) : await store.getRelease(role, tag);
    if (!release) {
      throw new GrapevineError(
        'release_not_found',
        tag === undefined ? `role ${role} has no published release` : `role ${role} has no release ${tag}; publish it first`,
      );
    }
    if (release.broken) {
      throw new ConflictError(
        'release_broken',
        `release ${role}:${release.tag} is marked broken (${release.broken.reason}); publish a new tag or name another with --tag`,
      );
    }

    const found = await lookup;
    if ('error' in found) {
      const { error } = found;
      if (error instanceof UnreachableError) throw new UnreachableError(`cannot list the hosts of role ${role} in ${env}: ${error.message}`, { cause: error });
      throw error;
    }
    // Serf's and the release's answers are in: the rest, to the stored record, under the group's lock.
    const { record, stored, targets } = await this.#deps.locks.hold({ role, env }, 'rollout', async (lockLost) => {
      const only = options.only === undefined ? undefined : new Set(options.only);
      // A deploy to the whole group leaves retired clusters' hosts out: deploying would put them back in the load balancer.
      const retiredHosts = cluster === undefined ? await this.#retiredHosts(role, env) : new Set<string>();
      const targets = found.hosts.filter((host) => (only === undefined || only.has(host)) && !retiredHosts.has(host));
      if (targets.length === 0) {
        const inCluster = cluster === undefined ? '' : ` in cluster ${cluster} (Serf tag cluster=${cluster})`;
        const notRetired = retiredHosts.size === 0 ? '' : ` outside its retired clusters`;
        throw new ConflictError('no_hosts', `no alive host has role ${role} in environment ${env}${inCluster}${notRetired}${only ? ` among ${[...only].join(', ')}` : ''}`);
      }
      const plan = await this.#deps.planStrategy?.(request, targets);
      // A deploy to some of the group's hosts keeps the whole group's k: its hosts go out beside the rest's.
      // A cluster's deploy counts only that cluster's hosts: the same rule inside the cluster.
      const slots = Math.min(slotCount(found.hosts.length - retiredHosts.size, this.#deps.slots), targets.length);
      const record = newDeployRecord(this.#deps, { role, tag: release.tag, image: release.image }, {
        env,
        targets,
        slots,
        ...origin,
        ...(plan?.strategy ? { strategy: plan.strategy } : {}),
        ...(plan?.colour ? { colour: plan.colour } : {}),
        ...(cluster === undefined ? {} : { cluster }),
        ...(zoneRule === undefined ? {} : { zoneRule }),
      });
      if (plan?.gate) await this.#deps.gates?.closeGate({ role, env }, record.id, plan.gate);
      lockLost.throwIfAborted();
      const stored = await store.createDeploy(record);
      if (cluster !== undefined && (await this.#deps.retiredClusters?.unretire({ role, env }, cluster))) {
        this.#logger.info({ deployId: record.id, role, env, cluster }, 'deploy to a retired cluster: it is no longer retired, its hosts serve again as they deploy');
      }
      return { record, stored, targets };
    });
    const log = this.#logger.child({ deployId: record.id, role, env });
    log.info({ tag: record.tag, image: record.image, seq: stored.seq, targets, ...origin }, 'deploy created');
    const { fleetEvents } = this.#deps;
    fleetEvents.publish({ kind: 'deploy.started', at: record.createdAt, actor: record.startedBy ?? 'coordinator', deploy: stored });
    try {
      await events.fireDeploy({ v: EVENT_SCHEMA_VERSION, role, env, id: record.id });
    } catch (error) {
      const reason = `could not fire the deploy event: ${errorMessage(error)}`;
      log.error({ err: error }, 'deploy event not fired');
      const ended = await store.finishDeploy(record.id, 'failed', reason, now());
      if (ended?.finished) fleetEvents.publish({ kind: 'deploy.finished', at: ended.record.finishedAt ?? now(), actor: 'coordinator', deploy: ended.record });
      throw new UnreachableError(`deploy ${record.id} failed: ${reason}`, { cause: error });
    }
    return { ...stored, hosts: {} };
  }

  /** The alive hosts of the group's retired clusters (none when nothing is retired). */
  async #retiredHosts(role: string, env: string): Promise<Set<string>> {
    const retired = (await this.#deps.retiredClusters?.retired({ role, env })) ?? [];
    const hosts = await Promise.all(retired.map((mark) => aliveHostsOf(this.#deps.membership, role, env, mark.cluster)));
    return new Set(hosts.flat());
  }
}
