import type { Logger } from '../contract/logger.js';

/**
 * What an adapter call made on behalf of a deploy carries: the signal that stops it when
 * the host stands down, and the deploy's logger, so every line the adapter logs names
 * the deploy.
 */
export interface DeployContext {
  signal: AbortSignal;
  logger: Logger;
}
