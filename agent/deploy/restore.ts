// Putting a host back the way it was before a deploy touched it: its previous version
// started again if it was replaced, and registered in the load balancer.
import { errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { LoadBalancer } from '../../shared/ports/load-balancer.js';

/** Bounded like any step: a host must end its part. */
const RESTORE_TIMEOUT_MS = 5 * 60_000;

export interface RestoreTarget {
  role: string;
  /** What ran before the deploy; null when nothing did. */
  previousImage: string | null;
  /** Whether the deploy got as far as starting the new version. */
  replaced: boolean;
  lb: { backend: string; address: string };
}

/** True when the host serves again, or served nothing before (no previous version to count out). */
export async function restorePrevious(
  { runtime, loadBalancer, node }: { runtime: ContainerRuntime; loadBalancer: LoadBalancer; node: string },
  { role, previousImage, replaced, lb }: RestoreTarget,
  logger: Logger,
): Promise<boolean> {
  const context = { signal: AbortSignal.timeout(RESTORE_TIMEOUT_MS), logger };
  try {
    if (replaced && previousImage) {
      await runtime.up(role, previousImage, context);
      await runtime.waitHealthy(role, context);
    }
    if (previousImage) await loadBalancer.register(lb.backend, node, lb.address, context);
    logger.info({ image: previousImage }, 'previous version restored');
    return true;
  } catch (error) {
    logger.error({ err: errorMessage(error), image: previousImage }, 'could not restore the previous version');
    return false;
  }
}
