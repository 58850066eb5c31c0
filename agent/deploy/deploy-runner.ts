// One host's part in a deploy, step by step (DESIGN.md, "The deploy"): count the
// group, take a slot, replace the container, and always finish with a report.
import type { Logger } from '../../shared/contract/logger.js';
import { backoff, retry } from '../../shared/contract/waiting.js';
import { DEFAULT_SLOTS, slotCount } from '../../shared/contract/slot-count.js';
import { FINAL_HOST_STATES, type Deploy, type DeployEventPayload, type HostReport } from '../../shared/contract/schemas.js';
import { ConfigError, DeployStepError, ReleaseBrokenError, UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import type { DeployGroup, FleetState } from '../../shared/ports/fleet-state.js';
import type { SlotLocks } from '../../shared/ports/slot-locks.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { LoadBalancer } from '../../shared/ports/load-balancer.js';
import { HostProgress } from './host-progress.js';
import { ProgressReporter, type ReportSink } from './progress-reporter.js';

export interface DeployLookup extends ReportSink {
  getDeploy(id: string): Promise<Deploy>;
}

export interface DeployRunnerDeps {
  node: string;
  /** Load-balancer backend and address of this host, per role. */
  lb: Record<string, { backend: string; address: string }>;
  locks: SlotLocks;
  fleet: FleetState;
  runtime: ContainerRuntime;
  loadBalancer: LoadBalancer;
  coordinator: DeployLookup;
  logger: Logger;
  now?: () => number;
  /**
   * Pauses before each new try when the coordinator does not answer the first lookup of
   * a deploy; their count is the number of retries.
   */
  lookupRetriesMs?: readonly number[];
}

/**
 * A host that cannot read the deploy would never count itself out, and the deploy would
 * wait for it until its deadline: a coordinator restarting or a connection reset while a
 * whole fleet asks at once is worth about 8 s of retries.
 */
const LOOKUP_RETRIES_MS = backoff(250, 5);
/** Putting the previous version back is bounded too: a host must end its part. */
const RESTORE_TIMEOUT_MS = 5 * 60_000;

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
    let deploy: Deploy;
    try {
      deploy = await this.lookUp(event, signal, logger);
    } catch (error) {
      logger.error({ err: errorMessage(error) }, 'cannot take part: the deploy could not be read');
      return null;
    }
    const mine = deploy.hosts[this.deps.node];
    if (deploy.status !== 'in_progress' || (mine && FINAL_HOST_STATES.has(mine.state))) {
      // Serf replays events to an agent that restarts: a deploy that is over stays over.
      logger.info({ status: deploy.status, state: mine?.state }, 'deploy already over here; event ignored');
      return null;
    }

    // The coordinator fixed the group and its slots when it created the deploy: no host counts for itself.
    const counted = deploy.targets?.length ?? deploy.expectedHosts ?? 0;
    const host = new HostProgress(this.deps.node, counted, this.now, new ProgressReporter(this.deps.coordinator, event.id, logger));
    host.step('received', receivedAt);
    try {
      await this.takePart(event, group, deploy, host, counted, signal, logger);
    } catch (error) {
      logger.error({ err: errorMessage(error) }, 'deploy ended in error');
      host.end('failed', errorMessage(error));
      // A host that was counted must count itself out, or the deploy would never end.
      if (!host.countedOut) {
        await this.finishHost(group, event.id, host).catch((finishError: unknown) => {
          logger.error({ err: errorMessage(finishError) }, 'could not count this host as finished');
        });
      }
    }
    return host.finish();
  }

  /** The deploy, retried while the answer is that nobody answered. */
  private async lookUp(event: DeployEventPayload, signal: AbortSignal, logger: Logger): Promise<Deploy> {
    return retry(() => this.deps.coordinator.getDeploy(event.id), {
      delaysMs: this.deps.lookupRetriesMs ?? LOOKUP_RETRIES_MS,
      retryIf: (error) => error instanceof UnreachableError,
      signal,
      onRetry: (error, attempt, retryInMs) => logger.warn({ err: errorMessage(error), attempt, retryInMs }, 'deploy lookup failed; trying again'),
    });
  }

  private async takePart(
    event: DeployEventPayload,
    group: DeployGroup,
    deploy: Deploy,
    host: HostProgress,
    counted: number,
    signal: AbortSignal,
    logger: Logger,
  ): Promise<void> {
    const { locks, fleet } = this.deps;
    await fleet.initRemaining(group, event.id, counted, logger);
    // A deploy created before the coordinator stored its slots gets the default third.
    const slots = deploy.slots ?? slotCount(counted, DEFAULT_SLOTS);
    logger.info({ tag: deploy.tag, counted, slots }, 'deploy received');
    host.publish();
    // Only this agent replaces the role's container, so what runs now is what runs when the
    // slot comes: it is read while the host waits, not after, when the fleet waits on it.
    const previousImage = this.deps.runtime.runningImage(group.role);
    previousImage.catch(() => undefined);

    const acquired = await locks.acquire({ group, slots, holder: this.deps.node, tag: deploy.tag, signal, logger, onWait: () => host.step('waiting') });
    if (acquired.kind === 'broken') {
      logger.info({ reason: acquired.reason }, 'release is broken; standing down');
      host.end('cancelled', `release ${deploy.tag} is broken: ${acquired.reason}`);
      await this.finishHost(group, event.id, host);
      return;
    }
    const lease = acquired.lease;
    host.tookSlot(lease.slot);
    try {
      await this.replace(group, deploy, host, await previousImage, AbortSignal.any([signal, lease.signal]), logger);
    } finally {
      // Stamped before the key is deleted, so no other host's slot time can precede it.
      host.step('release');
      await lease.release();
    }
    await this.finishHost(group, event.id, host);
  }

  private async replace(
    group: DeployGroup,
    deploy: Deploy,
    host: HostProgress,
    previousImage: string | null,
    signal: AbortSignal,
    logger: Logger,
  ): Promise<void> {
    const { runtime, loadBalancer, fleet, node } = this.deps;
    const lb = this.deps.lb[group.role];
    if (!lb) throw new ConfigError(`this host has no load balancer settings for role ${group.role}`);
    const checkBroken = async () => {
      const reason = await fleet.brokenReason(group, deploy.tag);
      if (reason !== null) throw new ReleaseBrokenError(reason);
    };

    let replaced = false;
    try {
      // The slot was taken in the same script call that found the release not broken; the
      // check before the pull runs while the host drains, and both end before the pull.
      host.step('drain');
      const context = { signal, logger };
      const [drained, checked] = await Promise.allSettled([loadBalancer.drain(lb.backend, node, context), checkBroken()]);
      if (drained.status === 'rejected') throw drained.reason;
      if (checked.status === 'rejected') throw checked.reason;
      host.step('pull');
      await runtime.pull(deploy.image, context);
      await checkBroken();
      host.step('up');
      replaced = true;
      await runtime.up(group.role, deploy.image, context);
      host.step('health');
      await runtime.waitHealthy(group.role, context);
      await checkBroken();
      host.step('register');
      await loadBalancer.register(lb.backend, node, lb.address, context);
      host.end('succeeded');
      logger.info('host deployed');
    } catch (error) {
      if (error instanceof ReleaseBrokenError) {
        logger.info({ reason: error.reason }, 'release became broken mid-deploy; standing down');
        host.end('cancelled', error.message);
      } else if (signal.aborted) {
        // Losing the slot or stopping the agent says nothing about the release: stand down, mark nothing.
        const reason = errorMessage(signal.reason);
        logger.warn({ reason }, 'deploy interrupted; standing down');
        host.end('cancelled', `interrupted: ${reason}`);
      } else {
        const reason = describeFailure(error);
        logger.error({ err: reason }, 'deploy failed on this host; marking the release broken');
        host.end('failed', reason);
        await fleet.markBroken(group, deploy.tag, reason, { logger }).catch((markError: unknown) => {
          logger.error({ err: errorMessage(markError) }, 'could not mark the release broken');
        });
      }
      await this.restore(group.role, previousImage, replaced, lb, logger);
    }
  }

  /** Puts the host back the way it was before this deploy touched it, as far as it can. */
  private async restore(
    role: string,
    previousImage: string | null,
    replaced: boolean,
    lb: { backend: string; address: string },
    logger: Logger,
  ): Promise<void> {
    const { runtime, loadBalancer, node } = this.deps;
    const context = { signal: AbortSignal.timeout(RESTORE_TIMEOUT_MS), logger };
    try {
      if (replaced && previousImage) {
        await runtime.up(role, previousImage, context);
        await runtime.waitHealthy(role, context);
      }
      if (previousImage) await loadBalancer.register(lb.backend, node, lb.address, context);
      logger.info({ image: previousImage }, 'previous version restored');
    } catch (error) {
      logger.error({ err: errorMessage(error), image: previousImage }, 'could not restore the previous version');
    }
  }

  private async finishHost(group: DeployGroup, deployId: string, host: HostProgress): Promise<void> {
    host.countOut(await this.deps.fleet.finishHost(group, deployId, this.deps.node));
  }
}

function describeFailure(error: unknown): string {
  if (error instanceof DeployStepError) return `${error.step}: ${error.message}`;
  return errorMessage(error);
}
