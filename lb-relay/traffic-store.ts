// Each server's traffic per second, as HAProxy's access log reports it (access-log.ts), kept for
// the last `retainMs` so the coordinator can judge a canary against its baseline on the load
// balancer's own figures. Memory is bounded: a fixed ring of one slot per second of retention
// for each server (28 bytes a slot), at most `maxServers` servers a backend, only the relay's
// backends; 15 minutes is 25 kB a server, 25 MB for a backend of 1000 servers.
import type { ServerTraffic, TrafficBucket } from '../shared/ports/traffic.js';

export interface AccessEntry {
  backend: string;
  server: string;
  /** The HTTP status the client got (HAProxy's %ST), HAProxy's own 502/503/504 included. */
  status: number;
  /** The server's response time (%Tr) in ms; undefined when it never answered. */
  responseMs: number | undefined;
}

export interface TrafficStoreOptions {
  backends: readonly string[];
  retainMs: number;
  /** Servers kept per backend; the setWeights limit of the relay's API unless given. */
  maxServers?: number;
  now?: () => number;
}

const SECOND_MS = 1_000;
const DEFAULT_MAX_SERVERS = 1_000;

/** One server's seconds in a ring: slot `s % size` holds second `s` when `seconds[slot] === s`. */
class ServerSeries {
  readonly seconds: Float64Array;
  readonly requests: Uint32Array;
  readonly errors: Uint32Array;
  readonly timed: Uint32Array;
  readonly latencySumMs: Float64Array;
  newest = -1;

  constructor(size: number) {
    this.seconds = new Float64Array(size).fill(-1);
    this.requests = new Uint32Array(size);
    this.errors = new Uint32Array(size);
    this.timed = new Uint32Array(size);
    this.latencySumMs = new Float64Array(size);
  }

  add(second: number, entry: AccessEntry): void {
    const slot = second % this.seconds.length;
    if (this.seconds[slot] !== second) {
      // A second that has left the retention: its slot starts over.
      this.seconds[slot] = second;
      this.requests[slot] = 0;
      this.errors[slot] = 0;
      this.timed[slot] = 0;
      this.latencySumMs[slot] = 0;
    }
    this.requests[slot]! += 1;
    if (entry.status >= 500) this.errors[slot]! += 1;
    if (entry.responseMs !== undefined) {
      this.timed[slot]! += 1;
      this.latencySumMs[slot]! += entry.responseMs;
    }
    this.newest = Math.max(this.newest, second);
  }

  buckets(fromSecond: number, toSecond: number, oldestKept: number): TrafficBucket[] {
    const out: TrafficBucket[] = [];
    for (let slot = 0; slot < this.seconds.length; slot++) {
      const second = this.seconds[slot]!;
      if (second < 0 || second < oldestKept || second < fromSecond || second >= toSecond) continue;
      out.push({ at: second * SECOND_MS, requests: this.requests[slot]!, errors: this.errors[slot]!, latencySumMs: this.latencySumMs[slot]!, timed: this.timed[slot]! });
    }
    return out.sort((a, b) => a.at - b.at);
  }
}

export class TrafficStore {
  readonly retainMs: number;
  readonly #size: number;
  readonly #maxServers: number;
  readonly #now: () => number;
  readonly #backends = new Map<string, Map<string, ServerSeries>>();
  /** Entries left out: a backend the relay does not serve, or a backend already at its servers' bound. */
  dropped = 0;

  constructor(options: TrafficStoreOptions) {
    this.retainMs = options.retainMs;
    this.#size = Math.ceil(options.retainMs / SECOND_MS) + 1;
    this.#maxServers = options.maxServers ?? DEFAULT_MAX_SERVERS;
    this.#now = options.now ?? Date.now;
    for (const backend of options.backends) this.#backends.set(backend, new Map());
  }

  /** Counts the entry in the second it was logged in (when the answer ended): that second's figures are final once it is past. */
  record(entry: AccessEntry): boolean {
    const servers = this.#backends.get(entry.backend);
    if (!servers) return this.#drop();
    const second = Math.floor(this.#now() / SECOND_MS);
    let series = servers.get(entry.server);
    if (!series) {
      if (servers.size >= this.#maxServers && !this.#evictIdle(servers, second)) return this.#drop();
      series = new ServerSeries(this.#size);
      servers.set(entry.server, series);
    }
    series.add(second, entry);
    return true;
  }

  /** Each server's buckets with `at` in [fromMs, toMs), oldest first; servers without any are left out. */
  read(backend: string, fromMs: number, toMs: number): ServerTraffic[] {
    const servers = this.#backends.get(backend);
    if (!servers) return [];
    const oldestKept = this.#oldestKept();
    const fromSecond = Math.ceil(fromMs / SECOND_MS);
    const toSecond = Math.ceil(toMs / SECOND_MS);
    const out: ServerTraffic[] = [];
    for (const [server, series] of servers) {
      const buckets = series.buckets(fromSecond, toSecond, oldestKept);
      if (buckets.length > 0) out.push({ server, buckets });
    }
    return out.sort((a, b) => a.server.localeCompare(b.server));
  }

  #oldestKept(): number {
    return Math.floor(this.#now() / SECOND_MS) - this.#size + 1;
  }

  /** Makes room by forgetting a server with nothing left in the retention (a host long gone). */
  #evictIdle(servers: Map<string, ServerSeries>, second: number): boolean {
    for (const [name, series] of servers) {
      if (series.newest < second - this.#size + 1) {
        servers.delete(name);
        return true;
      }
    }
    return false;
  }

  #drop(): false {
    this.dropped += 1;
    return false;
  }
}
