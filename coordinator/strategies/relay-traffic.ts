// The coordinator's way to the load balancer: the relay, with an operator credential whose
// token is read from its file at each use, so a token minted or rotated after the coordinator
// started (the dev cluster mints it once the coordinator answers) is the one presented.
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import { HAProxyRelayClient } from '../../shared/haproxy/relay-client.js';
import type { ServerTraffic, TrafficControl, WeightedServer } from '../../shared/ports/traffic.js';

export interface RelayTrafficOptions {
  url: string;
  tokenFile: string;
  caFile?: string | undefined;
  logger: Logger;
}

export class RelayTraffic implements TrafficControl {
  readonly #options: RelayTrafficOptions;

  constructor(options: RelayTrafficOptions) {
    this.#options = options;
  }

  setWeights(backend: string, weights: Record<string, number>, signal?: AbortSignal): Promise<void> {
    return this.client().setWeights(backend, weights, signal);
  }

  weights(backend: string, signal?: AbortSignal): Promise<WeightedServer[]> {
    return this.client().weights(backend, signal);
  }

  traffic(backend: string, fromMs: number, toMs: number, signal?: AbortSignal): Promise<ServerTraffic[]> {
    return this.client().traffic(backend, fromMs, toMs, signal);
  }

  /** A client with the token as the file holds it now; routing (coordinator/routing/relay-routing.ts) uses it too. */
  client(): HAProxyRelayClient {
    const { url, tokenFile, caFile, logger } = this.#options;
    let token: string;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`cannot read loadBalancer.relay.tokenFile ${tokenFile}: ${errorMessage(error)}`);
    }
    if (token === '') throw new ConfigError(`loadBalancer.relay.tokenFile ${tokenFile} is empty`);
    return new HAProxyRelayClient({ url, token, caFile, logger });
  }
}
