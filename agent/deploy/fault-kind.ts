// Tells a release fault (the release itself is bad: break it) from an infrastructure
// fault (something the host talks to did not answer: retry, and never break the release).
// The adapters say which where the failure enters: an UnreachableError or a TimeoutError
// somewhere under the error means a service did not answer (in time).
import { DeployStepError, TimeoutError, UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import { HookFailedError } from './hooks.js';

/** Steps where the release can be at fault: its image is pulled, started and health-checked. */
const RELEASE_STEPS: ReadonlySet<string> = new Set(['pull', 'up', 'health']);

/** True when `error` (or any cause under it) says a service did not answer or answered too late: worth another try. */
export function isInfrastructureFault(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (current instanceof UnreachableError || current instanceof TimeoutError) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * True when `error` at `step` says the release is bad: its image cannot be pulled because
 * the registry refused the tag, compose could not start it with the image present, its
 * container exited or failed its health check, or one of the role's hooks failed. Anything
 * else is the host's or its services' fault and must not break a release.
 */
export function isReleaseFault(step: string, error: unknown): boolean {
  // The operator's own hook said no (or did not finish): what it checks is the release.
  if (error instanceof HookFailedError) return true;
  const failedStep = error instanceof DeployStepError ? error.step : step;
  return RELEASE_STEPS.has(failedStep) && RELEASE_STEPS.has(step) && !isInfrastructureFault(error);
}

/** A failure as a host's report says it: the step it failed at, then why. */
export function describeFailure(step: string, error: unknown): string {
  if (error instanceof HookFailedError) return error.message;
  return `${error instanceof DeployStepError ? error.step : step}: ${errorMessage(error)}`;
}
