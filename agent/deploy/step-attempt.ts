// One step of a host's deploy, tried again while a service it needs does not answer,
// for at most the step's deadline, which also ends a try that hangs. Whatever it finally
// throws carries the step, which is what tells a release fault from the rest (fault-kind.ts).
import type { Logger } from '../../shared/contract/logger.js';
import type { HostStep } from '../../shared/contract/schemas.js';
import { GrapevineError, TimeoutError, errorMessage } from '../../shared/contract/errors.js';
import { backoff, deadlineSignal, retry, untilAborted } from '../../shared/contract/waiting.js';
import { isInfrastructureFault } from './fault-kind.js';

/** A Redis, HAProxy, Docker or registry blip is retried from 1 s, doubling up to 10 s between tries... */
const STEP_RETRIES_MS = backoff(1_000, 60, 10_000);
/** ...for at most this long per step; then the host ends `errored` and the release stays deployable. */
const STEP_DEADLINE_MS = 5 * 60_000;

/** A step's last failure, with the step it happened in. */
export class StepFailedError extends GrapevineError {
  constructor(
    readonly step: HostStep,
    readonly error: unknown,
  ) {
    super('step_failed', errorMessage(error), { cause: error });
  }
}

export interface StepAttemptOptions {
  signal: AbortSignal;
  logger: Logger;
  now: () => number;
  delaysMs?: readonly number[];
  deadlineMs?: number;
}

/**
 * Runs `task` with a signal that also fires when the step's deadline passes; a step still
 * running then ends with a TimeoutError (an infrastructure fault: the host errs, the release
 * is not blamed).
 */
export async function attemptStep<T>(step: HostStep, task: (signal: AbortSignal) => Promise<T>, options: StepAttemptOptions): Promise<T> {
  const { signal, logger, now, delaysMs = STEP_RETRIES_MS, deadlineMs = STEP_DEADLINE_MS } = options;
  const startedAt = now();
  const deadline = deadlineSignal(signal, deadlineMs);
  const stepSignal = deadline.signal;
  try {
    // A try that ignores the signal is left behind, not waited for: the step ends on time.
    return await retry(() => untilAborted(task(stepSignal), stepSignal, () => undefined), {
      delaysMs,
      retryIf: (error) => isInfrastructureFault(error) && now() - startedAt < deadlineMs,
      signal: stepSignal,
      onRetry: (error, attempt, retryInMs) => logger.warn({ step, err: errorMessage(error), attempt, retryInMs }, 'a service did not answer; trying the step again'),
    });
  } catch (error) {
    if (error instanceof StepFailedError) throw error;
    if (deadline.timedOut && !signal.aborted) {
      throw new StepFailedError(step, new TimeoutError(`step ${step} did not finish within ${Math.round(deadlineMs / 1000)} s`, { cause: error }));
    }
    throw new StepFailedError(step, error);
  } finally {
    deadline.release();
  }
}
