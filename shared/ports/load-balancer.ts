// What a host needs from the load balancer in front of its role. HAProxy's runtime
// API is the one implementation; others can be added behind the same interface.
import type { DeployContext } from './deploy-context.js';

export type ServerState = 'ready' | 'drain' | 'maint';

export interface BackendServer {
  name: string;
  address: string;
  state: ServerState;
}

export interface RegisterOptions {
  /**
   * The weight it serves at, 0 to 256: FULL_WEIGHT (shared/contract/strategy.ts) unless given.
   * A blue/green host registers its idle colour at 0, in the backend but sent nothing.
   */
  weight?: number;
}

export interface LoadBalancer {
  /**
   * Stops new traffic to the server, waits (at most the drain timeout) for its open
   * sessions to end, then takes it out of rotation. Does nothing if it is not registered.
   */
  drain(backend: string, server: string, context?: DeployContext): Promise<void>;
  /** Adds the server if it is missing, points it at `address`, sets its weight and puts it in rotation. */
  register(backend: string, server: string, address: string, context?: DeployContext, options?: RegisterOptions): Promise<void>;
  servers(backend: string): Promise<BackendServer[]>;
}
