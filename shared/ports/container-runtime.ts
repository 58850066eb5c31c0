// What a host needs from its container engine to replace one role's container.

export interface ContainerRuntime {
  /** Image of the role's running container, or null when none runs. */
  runningImage(role: string): Promise<string | null>;
  pull(image: string, signal: AbortSignal): Promise<void>;
  /** `docker compose up -d` for the role's service with `image`. */
  up(role: string, image: string, signal: AbortSignal): Promise<void>;
  /** Resolves when the role's container reports healthy; rejects when it is unhealthy, dies or times out. */
  waitHealthy(role: string, signal: AbortSignal): Promise<void>;
}
