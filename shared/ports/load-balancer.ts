// What a host needs from the load balancer in front of its role. HAProxy's runtime
// API is the one implementation; others can be added behind the same interface.
import type { DeployContext } from './deploy-context.js';

export type ServerState = 'ready' | 'drain' | 'maint';

export interface BackendServer {
  name: string;
  address: string;
  state: ServerState;
}

export interface LoadBalancer {
  /**
   * Stops new traffic to the server, waits (at most the drain timeout) for its open
   * sessions to end, then takes it out of rotation. Does nothing if it is not registered.
   */
  drain(backend: string, server: string, context?: DeployContext): Promise<void>;
  /** Adds the server if it is missing, points it at `address` and puts it in rotation. */
  register(backend: string, server: string, address: string, context?: DeployContext): Promise<void>;
  servers(backend: string): Promise<BackendServer[]>;
}
