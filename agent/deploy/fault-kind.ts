// Tells a release fault (the release itself is bad: break it) from an infrastructure
// fault (something the host talks to did not answer: retry, and never break the release).
// The docker adapter wraps a registry that did not answer and a registry that said "no"
// in the same DeployStepError('pull'), and a daemon that is down in a DockerComposeError
// like any other, so the words the engine and compose use are read here.
import { DeployStepError, TimeoutError, UnreachableError, errorMessage } from '../../shared/contract/errors.js';

/** Steps where the release can be at fault: its image is pulled, started and health-checked. */
const RELEASE_STEPS: ReadonlySet<string> = new Set(['pull', 'up', 'health']);

/**
 * What the Docker engine and compose say when the registry or the daemon did not answer
 * (Go's net errors, compose's "is the daemon running?", a registry behind a proxy that is down).
 */
const UNREACHABLE_WORDS =
  /connection refused|connection reset|i\/o timeout|no such host|no route to host|network is unreachable|tls handshake timeout|context deadline exceeded|request canceled|client\.timeout|unexpected eof|\beof\b|cannot connect to the docker daemon|is the docker daemon running|error during connect|(502|503|504) (bad gateway|service unavailable|gateway time-?out)|did not finish (pulling )?within/i;

/** True when `error` (or any cause under it) says a service did not answer or answered too late: worth another try. */
export function isInfrastructureFault(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (current instanceof UnreachableError || current instanceof TimeoutError) return true;
    if (UNREACHABLE_WORDS.test(errorMessage(current)) || UNREACHABLE_WORDS.test(stderrOf(current))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * True when `error` at `step` says the release is bad: its image cannot be pulled because
 * the registry refused the tag, compose could not start it with the image present, its
 * container exited or failed its health check. Anything else is the host's or its
 * services' fault and must not break a release.
 */
export function isReleaseFault(step: string, error: unknown): boolean {
  const failedStep = error instanceof DeployStepError ? error.step : step;
  return RELEASE_STEPS.has(failedStep) && RELEASE_STEPS.has(step) && !isInfrastructureFault(error);
}

function stderrOf(error: unknown): string {
  const stderr = (error as { stderr?: unknown } | null)?.stderr;
  return typeof stderr === 'string' ? stderr : '';
}
