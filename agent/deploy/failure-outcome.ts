// How a host's part ends when a step of its replacement failed: which state its report
// takes (cancelled, errored, failed) and whether the release is marked broken.
import { ReleaseBrokenError, errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { DeployGroup, FleetState } from '../../shared/ports/fleet-state.js';
import { describeFailure, isReleaseFault } from './fault-kind.js';
import type { HostProgress } from './host-progress.js';
import { StepFailedError } from './step-attempt.js';

export interface FailureContext {
  host: HostProgress;
  fleet: Pick<FleetState, 'markBroken'>;
  group: DeployGroup;
  tag: string;
  /** Fires when the slot lease is lost. */
  leaseSignal: AbortSignal;
  /** Fires when the agent stops. */
  agentSignal: AbortSignal;
  logger: Logger;
}

/** Ends the host's report for `thrown`; only a release fault marks the release broken (never rejects). */
export async function settleFailure(thrown: unknown, { host, fleet, group, tag, leaseSignal, agentSignal, logger }: FailureContext): Promise<void> {
  const { step: failedAt, error } = thrown instanceof StepFailedError ? thrown : new StepFailedError('up', thrown);
  if (error instanceof ReleaseBrokenError) {
    logger.info({ reason: error.reason }, 'release became broken mid-deploy; standing down');
    host.end('cancelled', error.message);
  } else if (leaseSignal.aborted && !agentSignal.aborted) {
    // Its lease lapsed or was taken: another host may hold the slot now, so this one stops
    // here. Not the release's fault: the host errs and the release stays deployable.
    const reason = `${failedAt}: lost its slot lease: ${errorMessage(leaseSignal.reason)}`;
    logger.warn({ reason }, 'slot lease lost; stopping here and putting the previous version back');
    host.end('errored', reason);
  } else if (agentSignal.aborted) {
    // Stopping the agent says nothing about the release: stand down, mark nothing.
    const reason = errorMessage(agentSignal.reason);
    logger.warn({ reason }, 'deploy interrupted; standing down');
    host.end('cancelled', `interrupted: ${reason}`);
  } else if (isReleaseFault(failedAt, error)) {
    const reason = describeFailure(failedAt, error);
    logger.error({ err: reason }, 'deploy failed on this host; marking the release broken');
    host.end('failed', reason);
    await fleet.markBroken(group, tag, reason, { logger }).catch((markError: unknown) => {
      logger.error({ err: errorMessage(markError) }, 'could not mark the release broken');
    });
  } else {
    // A service this host needs did not answer in time: the host gives up, the release stays deployable.
    const reason = describeFailure(failedAt, error);
    logger.error({ err: reason }, "deploy errored on this host: not the release's fault, so it is not marked broken");
    host.end('errored', reason);
  }
}
