// How `grapevine` ends on a failure: a one-line reason on stderr, exit 1 when the deploy it
// followed ended badly, 2 for bad input or an unreachable service.
import { errorMessage, GrapevineError } from '../shared/contract/errors.js';
import { EXIT_FAILED } from './cli-context.js';

export const EXIT_USAGE = 2;

export function reportFailure(error: unknown): void {
  process.stderr.write(`grapevine: ${errorMessage(error)}\n`);
  process.exitCode = error instanceof GrapevineError && isDeployOutcome(error) ? EXIT_FAILED : EXIT_USAGE;
}

function isDeployOutcome(error: GrapevineError): boolean {
  return error.code === 'watch_timeout';
}
