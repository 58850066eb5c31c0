// What a host needs from its container engine to replace one role's container.
import type { DeployContext } from './deploy-context.js';

export interface ContainerRuntime {
  /** Image of the role's running container, or null when none runs. */
  runningImage(role: string): Promise<string | null>;
  pull(image: string, context: DeployContext): Promise<void>;
  /** `docker compose up -d` for the role's service with `image`. */
  up(role: string, image: string, context: DeployContext): Promise<void>;
  /** Resolves when the role's container reports healthy; rejects when it is unhealthy, dies or times out. */
  waitHealthy(role: string, context: DeployContext): Promise<void>;
}
