// The coordinator's routing calls to the load balancer's relay through its client
// (shared/haproxy/relay-client.ts), with the operator token read from its file at each use, as
// RelayTraffic does. A change the relay refuses becomes lb_relay_refused (502) and one it did
// not finish in time lb_relay_timed_out (504): the coordinator checked the change already, so
// the relay's refusal is the load balancer's fault, not the caller's; the message then says
// what was put back.
import { ConfigError, GrapevineError, TimeoutError, UnreachableError, ValidationError } from '../../shared/contract/errors.js';
import type { RouteTable } from '../../shared/contract/routing.js';
import type { LoadBalancerRouting } from '../../shared/ports/route-store.js';
import { RelayTraffic, type RelayTrafficOptions } from '../strategies/relay-traffic.js';

export class RelayRouting implements LoadBalancerRouting {
  readonly #relay: RelayTraffic;

  constructor(options: RelayTrafficOptions) {
    this.#relay = new RelayTraffic(options);
  }

  frontend(name: string) {
    return this.#relay.client().frontend(name).catch(asRelayFailure);
  }

  async applyRoutes(frontend: string, table: RouteTable): Promise<void> {
    await this.#relay.client().setRoutes(frontend, table).catch(asRelayFailure);
  }

  maintenance(backend: string) {
    return this.#relay.client().maintenance(backend).catch(asRelayFailure);
  }

  // A traffic window past the relay's retention stays the caller's mistake (400, the relay's words).
  traffic(backend: string, fromMs: number, toMs: number) {
    return this.#relay.traffic(backend, fromMs, toMs).catch((error: unknown) => {
      if (error instanceof ValidationError) throw error;
      return asRelayFailure(error);
    });
  }
}

function asRelayFailure(error: unknown): never {
  if (error instanceof UnreachableError || error instanceof ConfigError || !(error instanceof GrapevineError)) throw error;
  if (error instanceof TimeoutError) throw new GrapevineError('lb_relay_timed_out', error.message, { cause: error });
  // A refusal of a change the coordinator checked, or of its own credential: the load balancer's side is wrong (502).
  throw new GrapevineError('lb_relay_refused', error.message, { cause: error });
}
