// Convergence of the groups a host serves: a healthy container of an image the group should
// run, whose server the load balancer holds drained, in maintenance or not at all (a host
// killed after it drained, an HAProxy reload that dropped dynamic servers), is put back in
// service; then a host left behind its group's rollout catches up (agent/catch-up.ts). On a
// blue/green role the live colour (the coordinator's answer) is the one reconciled so; the
// other colour, if it runs healthy and was not retired, goes back at weight 0. A server found
// in service keeps its weight: a switch's weights outlive an agent restart.
import { errorMessage } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import type { HostDeployView } from '../shared/contract/deploy-views.js';
import { FULL_WEIGHT, otherColour, type Colour } from '../shared/contract/strategy.js';
import { switchedBackFrom } from '../shared/contract/strategy-state.js';
import { pause } from '../shared/contract/waiting.js';
import type { ContainerRuntime } from '../shared/ports/container-runtime.js';
import type { BackendServer, LoadBalancer } from '../shared/ports/load-balancer.js';
import type { GroupLanes } from './deploy/group-lanes.js';
import type { CatchUp, CatchUpOutcome } from './catch-up.js';
import { hasColours, instanceOf, type RoleServers, type ServedInstance } from './role-servers.js';
import { rolloutApplies } from '../shared/contract/routing.js';

/** This host's view of each deploy of a role and environment, newest first (GET /v1/deploys?host=), and a blue/green group's colours. */
export interface DeployHistory {
  listHostViews(filter: { role: string; env: string; limit: number; host: string }): Promise<HostDeployView[]>;
  groupColour(role: string, env: string): Promise<{ live: Colour; retired: Colour | null }>;
}

export interface ReconcileOptions {
  node: string;
  env: string;
  /** This host's cluster tag (red-white routing); none unless the agent config sets `cluster`. */
  cluster?: string | undefined;
  /** The group's retired clusters (the coordinator's): a host of one is neither put back in service nor caught up. */
  retiredClusters?: (role: string, env: string) => Promise<string[]>;
  /** Load-balancer backend and address (or the colours' addresses) of this host, per role it serves. */
  lb: Record<string, RoleServers>;
  coordinator: DeployHistory;
  runtime: Pick<ContainerRuntime, 'runningImage' | 'waitHealthy'>;
  loadBalancer: LoadBalancer;
  /** The agent's deploy lanes: a group's reconcile runs only between its deploys, never during one. */
  lanes: GroupLanes;
  logger: Logger;
  /** Longest wait for the container to answer healthy; a healthy one answers at once. */
  healthCheckMs?: number;
  /**
   * Told, at every round, that this host's server of a group serves (found in service, or
   * put back), so whoever tracks hosts out of service can forget it. Must be idempotent.
   */
  onBackInService?: (group: { role: string; env: string; node: string }) => Promise<unknown> | void;
  /** Brings a host left behind its group's rollout up to it; without it, a round only puts hosts back in service. */
  catchUp?: CatchUp;
  /**
   * Told at every round which release the host's container runs: the tag of the group's newest
   * deploy of its image (that this host ended succeeded, if any), or null when none runs; not
   * told when no recent deploy has its image.
   */
  onRunning?: (group: { role: string; env: string }, tag: string | null) => void;
}

export type ReconcileOutcome =
  | 'back_in_service'
  | 'in_service'
  | 'no_deploy'
  | 'no_container'
  | 'not_desired'
  | 'unhealthy'
  | 'unreachable'
  | 'busy'
  /** The host's cluster is retired: it stays out of the load balancer until a deploy to that cluster. */
  | 'cluster_retired'
  | CatchUpOutcome;

/** Deploys read per group: enough to reach back past a few failed ones to the last success. */
const HISTORY = 20;
const DEFAULT_HEALTH_CHECK_MS = 5_000;
/** What the newest deploy no longer stands for: the group keeps what it ran before it. */
const ENDED_WITHOUT = new Set(['failed', 'cancelled']);

/**
 * Images a host of `cluster` (none: untagged) may run now: the newest deploy's, and while that one has not succeeded
 * (in progress, partial, failed, cancelled) the newest succeeded one, which hosts the
 * rollout has not reached, or rolled back to, still run. A blue/green deploy the group was
 * switched back from (`live` is the other colour) stands for the tag it started from instead.
 */
export function acceptedImages(deploys: ReadonlyArray<Pick<HostDeployView, 'status' | 'image' | 'catchUpOf' | 'cluster' | 'tag' | 'colour' | 'strategy'>>, cluster?: string, live?: Colour): Set<string> {
  // A catch-up brings one host to a rollout's release: the rollouts alone say what the group runs;
  // of those, only the whole group's and this host's cluster's (another cluster runs another release).
  const rollouts = deploys.filter((deploy) => deploy.catchUpOf === undefined && rolloutApplies(deploy, cluster));
  const newest = rollouts[0];
  if (!newest) return new Set();
  const accepted = new Set<string>();
  if (switchedBackFrom(newest, live)) {
    const fromTag = newest.strategy?.fromTag;
    const before = rollouts.find((d) => d !== newest && d.status === 'succeeded' && (fromTag === undefined || d.tag === fromTag));
    return before ? accepted.add(before.image) : accepted;
  }
  if (!ENDED_WITHOUT.has(newest.status)) accepted.add(newest.image);
  if (newest.status !== 'succeeded') {
    const succeeded = rollouts.find((d) => d.status === 'succeeded');
    if (succeeded) accepted.add(succeeded.image);
  }
  return accepted;
}

export class Reconciler {
  private readonly options: ReconcileOptions;
  private readonly pending = new Set<string>();
  /** The last failure logged per group, so an unreachable service is logged once, not every round. */
  private readonly lastFailure = new Map<string, string>();

  constructor(options: ReconcileOptions) {
    this.options = options;
  }

  /** One pass over every group this host serves; each waits for its group's running deploy to end. */
  async round(signal: AbortSignal): Promise<Record<string, ReconcileOutcome>> {
    const roles = Object.keys(this.options.lb);
    const outcomes = await Promise.all(roles.map((role) => this.group(role, signal)));
    return Object.fromEntries(roles.map((role, i) => [role, outcomes[i]!]));
  }

  /** Rounds until `signal` fires, one every `intervalMs`: the first at once. */
  async runPeriodically(intervalMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.round(signal);
      await pause(intervalMs, signal).catch(() => undefined);
    }
  }

  private group(role: string, signal: AbortSignal): Promise<ReconcileOutcome> {
    const key = `${role}/${this.options.env}`;
    // A round queued behind a long deploy is enough: later ones would only pile up behind it.
    if (this.pending.has(key)) return Promise.resolve('busy');
    this.pending.add(key);
    return this.options.lanes
      .run(key, () => this.reconcile(role, signal))
      .finally(() => this.pending.delete(key));
  }

  private async reconcile(role: string, signal: AbortSignal): Promise<ReconcileOutcome> {
    const { env, coordinator, runtime, loadBalancer, catchUp } = this.options;
    const key = `${role}/${env}`;
    const lb = this.options.lb[role]!;
    const log = this.options.logger.child({ component: 'reconcile', role, env });
    if (signal.aborted) return 'busy';
    try {
      const colours = hasColours(lb) ? await coordinator.groupColour(role, env) : undefined;
      const live = instanceOf(this.options.node, role, lb, colours?.live);
      const [deploys, image, servers, retired] = await Promise.all([
        coordinator.listHostViews({ role, env, limit: HISTORY, host: this.options.node }),
        runtime.runningImage(role, live.colour),
        loadBalancer.servers(lb.backend),
        this.isRetired(role),
      ]);
      this.recovered(key, log);
      this.tellRunning(role, deploys, image, log);
      if (retired) return 'cluster_retired';
      const inService = await this.backInService(role, live, deploys, image, servers, signal, log);
      if (colours) await this.idleColour(role, instanceOf(this.options.node, role, lb, otherColour(colours.live)), colours.retired, servers, signal, log);
      if (!catchUp || signal.aborted) return inService;
      // Back in service first: a host behind the release serves its old one until its catch-up takes a slot.
      return (await catchUp.converge(role, env, deploys, image, log)) ?? inService;
    } catch (error) {
      const message = errorMessage(error);
      if (this.lastFailure.get(key) !== message) log.warn({ err: message }, 'could not reconcile the group; trying again next round');
      this.lastFailure.set(key, message);
      return 'unreachable';
    }
  }

  private async backInService(
    role: string,
    live: ServedInstance,
    deploys: HostDeployView[],
    image: string | null,
    servers: BackendServer[],
    signal: AbortSignal,
    log: Logger,
  ): Promise<ReconcileOutcome> {
    const { node, env, runtime, loadBalancer, onBackInService } = this.options;
    const state = servers.find((s) => s.name === live.server)?.state ?? 'missing';
    if (state === 'ready') {
      // A host that serves counts against no slot, even if its last release could not say so.
      await onBackInService?.({ role, env, node });
      return 'in_service';
    }
    const accepted = acceptedImages(deploys, this.options.cluster, live.colour);
    if (accepted.size === 0) return 'no_deploy';
    if (image === null) {
      log.info({ server: state }, 'out of service and no container runs; not put back');
      return 'no_container';
    }
    if (!accepted.has(image)) {
      log.info({ server: state, image, desired: [...accepted] }, 'out of service with an image the group should not run; not put back');
      return 'not_desired';
    }
    const healthCheckMs = this.options.healthCheckMs ?? DEFAULT_HEALTH_CHECK_MS;
    try {
      await runtime.waitHealthy(role, { signal: AbortSignal.any([signal, AbortSignal.timeout(healthCheckMs)]), logger: log }, {}, live.colour);
    } catch (error) {
      if (signal.aborted) return 'busy';
      log.info({ server: state, image, err: errorMessage(error) }, 'out of service and not healthy; left alone');
      return 'unhealthy';
    }
    await loadBalancer.register(live.backend, live.server, live.address, undefined, { weight: FULL_WEIGHT });
    log.info({ was: state, image, backend: live.backend, server: live.server }, 'healthy container of the desired image was out of service; put back in service');
    await onBackInService?.({ role, env, node });
    return 'back_in_service';
  }

  /**
   * The colour traffic does not go to: back in the backend at weight 0 when its container runs
   * healthy and it was not retired, ready for a switch back; left alone otherwise. Whatever
   * image it runs may serve at 0: it gets traffic only from a switch the coordinator decides.
   */
  private async idleColour(role: string, idle: ServedInstance, retired: Colour | null, servers: BackendServer[], signal: AbortSignal, log: Logger): Promise<void> {
    const { runtime, loadBalancer } = this.options;
    const state = servers.find((s) => s.name === idle.server)?.state ?? 'missing';
    if (state === 'ready' || retired === idle.colour || signal.aborted) return;
    if ((await runtime.runningImage(role, idle.colour)) === null) return;
    const healthCheckMs = this.options.healthCheckMs ?? DEFAULT_HEALTH_CHECK_MS;
    try {
      await runtime.waitHealthy(role, { signal: AbortSignal.any([signal, AbortSignal.timeout(healthCheckMs)]), logger: log }, {}, idle.colour);
    } catch (error) {
      log.info({ server: idle.server, err: errorMessage(error) }, 'idle colour out of service and not healthy; left alone');
      return;
    }
    await loadBalancer.register(idle.backend, idle.server, idle.address, undefined, { weight: 0 });
    log.info({ was: state, server: idle.server }, 'idle colour runs healthy; back in the backend at weight 0');
  }

  private tellRunning(role: string, deploys: HostDeployView[], image: string | null, log: Logger): void {
    // Two tags may share an image: the one this host deployed with success says best what it runs.
    const ofImage = deploys.filter((deploy) => deploy.image === image);
    const tag = image === null ? null : (ofImage.find((deploy) => deploy.mine?.state === 'succeeded') ?? ofImage[0])?.tag;
    if (tag === undefined) return;
    try {
      this.options.onRunning?.({ role, env: this.options.env }, tag);
    } catch (error) {
      log.warn({ err: errorMessage(error) }, 'could not tell which release runs');
    }
  }

  private async isRetired(role: string): Promise<boolean> {
    const { cluster, retiredClusters, env } = this.options;
    if (cluster === undefined || !retiredClusters) return false;
    return (await retiredClusters(role, env)).includes(cluster);
  }

  private recovered(key: string, log: Logger): void {
    if (this.lastFailure.delete(key)) log.info('reconcile reaches its services again');
  }
}
