// What a host needs from its container engine to replace one role's container. A blue/green
// role runs twice on a host: every call that acts on the role's container takes the colour
// as its last argument (none for a role without colours), and acts on that colour's alone.
import type { Colour } from '../contract/strategy.js';
import type { DeployContext } from './deploy-context.js';

export interface ContainerRuntime {
  /** Image of the role's (colour's) running container, or null when none runs. */
  runningImage(role: string, colour?: Colour): Promise<string | null>;
  pull(image: string, context: DeployContext): Promise<void>;
  /** `docker compose up -d` for the role's (colour's) service with `image`. */
  up(role: string, image: string, context: DeployContext, colour?: Colour): Promise<void>;
  /** `docker compose stop` of the role's (colour's) project: its containers stay, stopped, for a later `up`. */
  stop(role: string, context: DeployContext, colour?: Colour): Promise<void>;
  /**
   * Resolves when the role's container passed its health gate: healthy within the role's
   * deadline (and, with `soak`, healthy throughout its minimum healthy time after); rejects
   * when it exits, restarts in a loop, misses the deadline or turns unhealthy in the soak.
   */
  waitHealthy(role: string, context: DeployContext, options?: HealthWaitOptions, colour?: Colour): Promise<void>;
  /** The pulled image's repo digest (repo@sha256:...), or its id when it has none; null when the engine does not know the image. */
  imageDigest?(image: string, context: DeployContext): Promise<string | null>;
}

export interface HealthWaitOptions {
  /** A newly deployed container: it must stay healthy for the role's minimum healthy time. */
  soak?: boolean;
}
