// Putting a host back the way it was before a deploy touched it: its previous version
// started again if it was replaced, and registered in the load balancer. On a blue/green
// role only the colour the deploy replaced is put back; one that ran nothing is stopped again.
import { errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { LoadBalancer } from '../../shared/ports/load-balancer.js';
import type { ServedInstance } from '../role-servers.js';

/** Bounded like any step: a host must end its part. */
const RESTORE_TIMEOUT_MS = 5 * 60_000;

export interface RestoreTarget {
  role: string;
  /** What ran before the deploy; null when nothing did. */
  previousImage: string | null;
  /** Whether the deploy got as far as starting the new version. */
  replaced: boolean;
  /** The container and server the deploy replaced. */
  instance: ServedInstance;
  /** The weight it served at: 0 for a blue/green deploy's idle colour. */
  weight: number;
}

/** True when the host serves again, or served nothing before (no previous version to count out). */
export async function restorePrevious(
  { runtime, loadBalancer }: { runtime: ContainerRuntime; loadBalancer: LoadBalancer },
  { role, previousImage, replaced, instance, weight }: RestoreTarget,
  logger: Logger,
): Promise<boolean> {
  const context = { signal: AbortSignal.timeout(RESTORE_TIMEOUT_MS), logger };
  const { backend, server, address, colour } = instance;
  try {
    if (replaced && previousImage) {
      await runtime.up(role, previousImage, context, colour);
      await runtime.waitHealthy(role, context, {}, colour);
    }
    // An idle colour that ran nothing (stopped, or never started) is left as it was: not running.
    if (replaced && !previousImage && colour !== undefined) await runtime.stop(role, context, colour);
    if (previousImage) await loadBalancer.register(backend, server, address, context, { weight });
    logger.info({ image: previousImage, colour }, previousImage ? 'previous version restored' : 'nothing ran before; left stopped');
    return true;
  } catch (error) {
    logger.error({ err: errorMessage(error), image: previousImage, colour }, 'could not restore the previous version');
    return false;
  }
}
