// One host's part in a deploy, step by step (DESIGN.md, "The deploy"): count the
// group, take a slot, replace the container, and always finish with a report.
import type { Logger } from '../../shared/contract/logger.js';
import { backoff, retry } from '../../shared/contract/waiting.js';
import { DEFAULT_SLOTS, slotCount } from '../../shared/contract/slot-count.js';
import { FINAL_HOST_STATES, type Deploy, type DeployEventPayload, type HostReport, type HostStep } from '../../shared/contract/schemas.js';
import { ReleaseBrokenError, UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import { deployedInstance, registerWeight, type RoleServers, type ServedInstance } from '../role-servers.js';
import { settleFailure } from './failure-outcome.js';
import { attemptStep } from './step-attempt.js';
import { startBeside } from './beside.js';
import { endSuperseded } from './superseded.js';
import type { DeployGroup, FleetState } from '../../shared/ports/fleet-state.js';
import type { SlotLease, SlotLocks } from '../../shared/ports/slot-locks.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { LoadBalancer } from '../../shared/ports/load-balancer.js';
import { HostProgress } from './host-progress.js';
import { restorePrevious } from './restore.js';
import type { AppliedDeploys } from './applied-deploys.js';
import { ProgressReporter, type ReportSink } from './progress-reporter.js';
import { reportUnread } from './unread-deploy.js';
import { hookSteps, type DeployHooks } from './hooks.js';
import type { DeployJob } from './deploy-job.js';
import type { HostDeployView } from '../../shared/contract/deploy-views.js';

export interface DeployLookup extends ReportSink {
  /** `host`'s own view of the deploy (GET /v1/deploys/:id/host-view): constant in size whatever the fleet. */
  getHostView(id: string, host: string): Promise<HostDeployView>;
}

export interface DeployRunnerDeps {
  node: string;
  /** This host's zone (its Serf tag `zone`): a deploy's zone rule counts it there; none is zone "". */
  zone?: string;
  /** Load-balancer backend and address (or the colours' addresses) of this host, per role. */
  lb: Record<string, RoleServers>;
  locks: SlotLocks;
  fleet: FleetState;
  runtime: ContainerRuntime;
  loadBalancer: LoadBalancer;
  coordinator: DeployLookup;
  /** The highest deploy of each group this host applied, kept across restarts. */
  applied: AppliedDeploys;
  logger: Logger;
  now?: () => number;
  /** Pauses before each new try when the coordinator does not answer the first lookup of a deploy; their count is the retries'. */
  lookupRetriesMs?: readonly number[];
  /** Pauses between tries of a step whose service did not answer; step-attempt.ts's unless given. */
  stepRetriesMs?: readonly number[];
  /** How long one step keeps retrying a service that does not answer; 5 min unless given. */
  stepDeadlineMs?: number;
  /** Pauses between tries of a report the coordinator did not take; ProgressReporter's unless given. */
  reportRetriesMs?: readonly number[];
  /** The roles' hooks (hooks.ts); none run without it. */
  hooks?: DeployHooks;
  /** The once-per-deploy job of the roles that have one; none runs without it. */
  job?: Pick<DeployJob, 'beforeSlot'>;
  /** Told of each part this host ended, with its final report (the agent's metrics); none unless given. */
  observer?: DeployObserver;
}

export interface DeployObserver {
  /** Must not throw; a throw is logged and the deploy goes on as if it had not been told. */
  deployEnded(deploy: Pick<Deploy, 'role' | 'env' | 'tag'>, report: HostReport): void;
}

// A coordinator restarting, or one a whole fleet asks at once, is worth ~30 s of retries, spread
// out (0.5 s doubling to 8 s) so tries of hosts that timed out do not pile onto the same queue.
const LOOKUP_RETRIES_MS = backoff(500, 7, 8_000);
/** A deploy recorded before the coordinator stored its deadline gets the coordinator's default one. */
const DEFAULT_DEPLOY_DEADLINE_MS = 30 * 60_000;

export class DeployRunner {
  private readonly now: () => number;

  constructor(private readonly deps: DeployRunnerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Runs this host's part of a deploy to its end and returns the final report, or null when
   * there is nothing to do (a replayed event of a deploy that is over). Never throws.
   */
  async run(event: DeployEventPayload, signal: AbortSignal): Promise<HostReport | null> {
    const logger = this.deps.logger.child({ deployId: event.id, role: event.role, env: event.env });
    const receivedAt = this.now();
    const group: DeployGroup = { role: event.role, env: event.env };
    let deploy: HostDeployView;
    try {
      deploy = await this.lookUp(event, signal, logger);
    } catch (error) {
      logger.error({ err: errorMessage(error) }, 'cannot take part: the deploy could not be read');
      // Said to the coordinator when it may yet hear: the deploy need not wait for this host.
      if (error instanceof UnreachableError) await reportUnread({ sink: this.deps.coordinator, host: this.deps.node, id: event.id, receivedAt, error, signal, logger, now: this.now });
      return null;
    }
    const { mine } = deploy;
    if (deploy.status !== 'in_progress' || (mine && FINAL_HOST_STATES.has(mine.state))) {
      // Serf replays events to an agent that restarts: a deploy that is over stays over.
      logger.info({ status: deploy.status, state: mine?.state }, 'deploy already over here; event ignored');
      return null;
    }
    if (!deploy.target) {
      // Not counted in the deploy's k or its remaining hosts: taking part would end it early.
      logger.info({ targets: deploy.targetCount, cluster: deploy.cluster }, `not a target of this deploy (${deploy.cluster === undefined ? 'joined after it started); it catches up once the rollout ends' : `it deploys cluster ${deploy.cluster} only)`}`);
      return null;
    }
    const newerApplied = await this.newerApplied(group, deploy, logger);

    // The coordinator fixed the group and its slots when it created the deploy: no host counts for itself.
    const counted = deploy.targetCount > 0 ? deploy.targetCount : (deploy.expectedHosts ?? 0);
    const deadlineAt = deploy.deadlineAt ?? deploy.createdAt + DEFAULT_DEPLOY_DEADLINE_MS;
    const retries = this.deps.reportRetriesMs === undefined ? {} : { delaysMs: this.deps.reportRetriesMs };
    const host = new HostProgress(this.deps.node, counted, this.now, new ProgressReporter(this.deps.coordinator, event.id, logger, { deadlineAt, signal, now: this.now, ...retries }));
    host.step('received', receivedAt);
    try {
      if (newerApplied === undefined) await this.takePart(event, group, deploy, host, counted, signal, logger);
      else await endSuperseded(this.deps, group, deploy, newerApplied, host).finally(() => this.finishHost(group, event.id, host));
    } catch (error) {
      // Nothing outside the replacement (counting, the slot, the broken check) says anything about the release.
      logger.error({ err: errorMessage(error) }, 'deploy ended in error');
      if (!host.ended) host.end('errored', errorMessage(error));
      // A host that was counted must count itself out, or the deploy would never end.
      if (!host.countedOut) {
        await this.finishHost(group, event.id, host).catch((finishError: unknown) => {
          logger.error({ err: errorMessage(finishError) }, 'could not count this host as finished');
        });
      }
    }
    if (host.ended && deploy.seq !== undefined && newerApplied === undefined) {
      await this.deps.applied.record(group, deploy.seq).catch((error: unknown) => {
        logger.error({ err: errorMessage(error), seq: deploy.seq }, 'could not record this deploy as applied');
      });
    }
    return host.finish((report) => this.tellEnded(deploy, report, logger));
  }

  private tellEnded(deploy: HostDeployView, report: HostReport, logger: Logger): void {
    try {
      this.deps.observer?.deployEnded(deploy, report);
    } catch (error) {
      logger.warn({ err: errorMessage(error) }, 'the deploy observer failed');
    }
  }

  /** A replayed or late event of a deploy older than one this host applied: running it would deploy backwards. */
  private async newerApplied(group: DeployGroup, deploy: HostDeployView, logger: Logger): Promise<number | undefined> {
    if (deploy.seq === undefined) return undefined;
    let highest: number | undefined;
    try {
      highest = await this.deps.applied.highest(group);
    } catch (error) {
      // An unreadable record must not stop every deploy: the coordinator's order still holds for this one.
      logger.error({ err: errorMessage(error) }, 'could not read the deploys applied here; taking part');
      return undefined;
    }
    if (highest === undefined || deploy.seq >= highest) return undefined;
    logger.info({ seq: deploy.seq, applied: highest }, `deploy ${deploy.id} (seq ${deploy.seq}) is older than seq ${highest} already applied here; not run, its part ended`);
    return highest;
  }

  /** The deploy, retried while the answer is that nobody answered. */
  private async lookUp(event: DeployEventPayload, signal: AbortSignal, logger: Logger): Promise<HostDeployView> {
    return retry(() => this.deps.coordinator.getHostView(event.id, this.deps.node), {
      delaysMs: this.deps.lookupRetriesMs ?? LOOKUP_RETRIES_MS,
      retryIf: (error) => error instanceof UnreachableError,
      signal,
      onRetry: (error, attempt, retryInMs) => logger.warn({ err: errorMessage(error), attempt, retryInMs }, 'deploy lookup failed; trying again'),
    });
  }

  private async takePart(event: DeployEventPayload, group: DeployGroup, deploy: HostDeployView, host: HostProgress, counted: number, signal: AbortSignal, logger: Logger): Promise<void> {
    const { locks, fleet } = this.deps;
    await this.attempt('received', () => fleet.initRemaining(group, event.id, counted, logger), signal, logger);
    // Known before the host waits: a colour this host does not run ends it errored (and counted out) at once.
    const instance = deployedInstance(this.deps.node, this.deps.lb, deploy);
    // A deploy created before the coordinator stored its slots gets the default third.
    const slots = deploy.slots ?? slotCount(counted, DEFAULT_SLOTS);
    logger.info({ tag: deploy.tag, counted, slots }, 'deploy received');
    host.publish();
    // Only this agent replaces the role's container, so what runs now is what runs when the
    // slot comes: it is read while the host waits, not after, when the fleet waits on it.
    const previousImage = this.deps.runtime.runningImage(group.role, instance.colour);
    previousImage.catch(() => undefined);

    // The job runs (or is waited for) before any host holds a slot, so it ends before any host's `up`.
    const gate = await this.deps.job?.beforeSlot(deploy, host, signal, logger);
    const acquired = gate?.kind === 'stand-down' ? gate : await locks.acquire({ group, deployId: event.id, slots, holder: this.deps.node, tag: deploy.tag, signal, logger, onWait: () => host.step('waiting'), zone: this.deps.zone ?? '', ...(deploy.zoneRule ? { zoneRule: deploy.zoneRule } : {}) });
    if (acquired.kind !== 'acquired') {
      const why = acquired.kind === 'stand-down' ? acquired.reason : acquired.kind === 'broken' ? `release ${deploy.tag} is broken: ${acquired.reason}` : `deploy ${event.id} was stopped (past its deadline) before this host took a slot`;
      logger.info({ reason: why }, 'standing down');
      host.end(acquired.kind === 'stand-down' ? acquired.state : 'cancelled', why);
      await this.attempt('release', () => this.finishHost(group, event.id, host), signal, logger);
      return;
    }
    // Taking the slot counted this host out of service (before it drains); it stops counting
    // against k only with a release that says it serves again.
    const lease = acquired.lease;
    host.tookSlot(lease.slot, lease.epoch);
    let serving = true;
    try {
      serving = await this.replace(group, deploy, instance, host, await previousImage, lease, signal, logger);
    } finally {
      // Stamped before the key is deleted, so no other host's slot time can precede it.
      host.step('release');
      if (!serving) logger.warn('not serving again: this host keeps counting against the group\'s k until it registers');
      const told = await lease.release({ outOfService: !serving });
      // A release Redis did not take leaves a serving host counted out: say so until it is heard.
      if (!told && serving) await this.attempt('release', () => fleet.backInService(group, this.deps.node, logger), signal, logger);
    }
    await this.attempt('release', () => this.finishHost(group, event.id, host), signal, logger);
  }

  private attempt<T>(step: HostStep, task: (signal: AbortSignal) => Promise<T>, signal: AbortSignal, logger: Logger): Promise<T> {
    const { stepRetriesMs, stepDeadlineMs } = this.deps;
    return attemptStep(step, task, {
      signal,
      logger,
      now: this.now,
      ...(stepRetriesMs === undefined ? {} : { delaysMs: stepRetriesMs }),
      ...(stepDeadlineMs === undefined ? {} : { deadlineMs: stepDeadlineMs }),
    });
  }

  private async replace(
    group: DeployGroup,
    deploy: HostDeployView,
    instance: ServedInstance,
    host: HostProgress,
    previousImage: string | null,
    lease: SlotLease,
    agentSignal: AbortSignal,
    logger: Logger,
  ): Promise<boolean> {
    const { runtime, loadBalancer, fleet, node, hooks } = this.deps;
    const { backend, server, address, colour } = instance;
    const weight = registerWeight(deploy);
    const signal = AbortSignal.any([agentSignal, lease.signal]);
    const checkBroken = async () => {
      const reason = await fleet.brokenReason(group, deploy.tag);
      if (reason !== null) throw new ReleaseBrokenError(reason);
    };
    // Fencing: before each step that takes the host out of service or changes what it runs,
    // Redis confirms the lease is still this host's; a host that cannot confirm goes no further.
    const step = <T>(name: HostStep, task: (stepSignal: AbortSignal) => Promise<T>) => this.attempt(name, task, signal, logger);
    const confirm = (name: HostStep) => step(name, () => lease.confirm());
    // The role's hooks, each a step of its own; one that fails is a release fault (hooks.ts, fault-kind.ts).
    // Only the colour being replaced drains: on a blue/green role the live colour keeps serving.
    const drainNow = (drainSignal: AbortSignal) => loadBalancer.drain(backend, server, { signal: drainSignal, logger });
    const hook = hookSteps({ hooks, context: { deploy, host: node, lb: { backend, address }, ...(colour === undefined ? {} : { colour }) }, progress: host, step, confirm, drain: drainNow, logger });

    let replaced = false;
    try {
      // The slot was taken in the same script call that found the release not broken; the
      // check runs while the host drains. The pull changes nothing the host serves, so it runs
      // beside the drain: the host is out of rotation for the longer of the two, not their sum.
      await hook('before-drain');
      host.step('drain');
      await confirm('drain');
      const draining = Promise.allSettled([step('drain', drainNow), step('drain', checkBroken)]);
      const pulled = startBeside((pullSignal) => this.attempt('pull', (s) => runtime.pull(deploy.image, { signal: s, logger }), pullSignal, logger), signal);
      const failed = (await draining).find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) {
        await pulled.stop('the host goes no further than its drain');
        throw failed.reason;
      }
      // Drained; what is left of the pull, if anything, is this step.
      host.step('pull');
      await pulled.done;
      await step('pull', checkBroken);
      host.step('up');
      await confirm('up');
      replaced = true;
      await step('up', (stepSignal) => runtime.up(group.role, deploy.image, { signal: stepSignal, logger }, colour));
      host.step('health');
      await step('health', (stepSignal) => runtime.waitHealthy(group.role, { signal: stepSignal, logger }, { soak: true }, colour));
      await hook('after-up');
      await step('health', checkBroken);
      host.step('register');
      await confirm('register');
      await step('register', (stepSignal) => loadBalancer.register(backend, server, address, { signal: stepSignal, logger }, { weight }));
      await hook('after-register');
      host.end('succeeded');
      logger.info('host deployed');
      return true;
    } catch (thrown) {
      await settleFailure(thrown, { host, fleet, group, tag: deploy.tag, leaseSignal: lease.signal, agentSignal, logger });
      return restorePrevious(this.deps, { role: group.role, previousImage, replaced, instance, weight }, logger);
    }
  }

  private async finishHost(group: DeployGroup, deployId: string, host: HostProgress): Promise<void> {
    host.countOut(await this.deps.fleet.finishHost(group, deployId, this.deps.node));
  }
}
