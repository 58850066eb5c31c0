// What the coordinator asks of the load balancer for the strategies (README, "Strategies"):
// set the weights of a backend's servers all at once, read them, and read each server's
// traffic (requests, 5xx answers, response time) per second from the load balancer's own log.
// The relay's client (shared/haproxy/relay-client.ts) implements it over HTTP, the runtime
// API (shared/haproxy/runtime-api.ts) on the load-balancer host itself.

export interface WeightedServer {
  name: string;
  address: string;
  state: 'ready' | 'drain' | 'maint';
  /** HAProxy's current (effective) weight, 0 to 256. */
  weight: number;
}

/** One server's answers in one second, as the load balancer logged them. */
export interface TrafficBucket {
  /** Start of the second, ms since the epoch. */
  at: number;
  requests: number;
  /** Answers with a 5xx status, the load balancer's own included (a server that failed mid-answer). */
  errors: number;
  /** Sum of the server's response times (HAProxy's Tr, ms) over the requests that had one. */
  latencySumMs: number;
  /** Requests that had a response time (a server that never answered has none). */
  timed: number;
}

export interface ServerTraffic {
  server: string;
  buckets: TrafficBucket[];
}

export interface TrafficControl {
  /** Sets every named server's weight in one runtime API exchange, so the change lands at once; servers not named keep theirs. */
  setWeights(backend: string, weights: Record<string, number>, signal?: AbortSignal): Promise<void>;
  /** The backend's servers with their state and weight. */
  weights(backend: string, signal?: AbortSignal): Promise<WeightedServer[]>;
  /** Each server's per-second buckets with `at` in [fromMs, toMs), oldest first; a server without requests has none. */
  traffic(backend: string, fromMs: number, toMs: number, signal?: AbortSignal): Promise<ServerTraffic[]>;
}
