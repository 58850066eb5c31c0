// What an operator watching the load balancer sees while a fault runs: HAProxy's server
// states sampled every 100 ms through its runtime socket, and 20 requests a second through
// the frontend (the dev cluster's traffic stream). Both are bounded in count and in time.
import { startTraffic } from '../../dev-cluster/traffic.js';
import { pause } from '../../shared/contract/waiting.js';
import { readyServers, type GroupKeys } from '../fixtures/cluster.js';

const SAMPLE_EVERY_MS = 100;
const REQUESTS_PER_SECOND = 20;
const REQUEST_TIMEOUT_MS = 2_000;

export interface ServiceFigures {
  /** The most of the watched servers not UP and ready at any one sample. */
  mostOut: number;
  samples: number;
  /** Samples the runtime socket did not answer. */
  samplesUnanswered: number;
  requests: number;
  /** Requests that got no answer or an answer other than 2xx. */
  requestsFailed: number;
  /** The first failed requests: when each was sent (ms since the epoch) and what came back. */
  failures: Array<{ at: number; answer: string }>;
}

export interface ServiceWatch {
  /** Ends both loops and returns what they saw. */
  stop(): Promise<ServiceFigures>;
}

/** Watches `servers` of `backend` and asks `url`; stops by itself after `maxMs`. */
export function watchService(options: { runtimeSocket: string; backend: string; servers: string[]; url: string; maxMs: number }): ServiceWatch {
  const stopped = new AbortController();
  const figures: ServiceFigures = { mostOut: 0, samples: 0, samplesUnanswered: 0, requests: 0, requestsFailed: 0, failures: [] };
  const deadline = Date.now() + options.maxMs;
  const going = () => !stopped.signal.aborted && Date.now() < deadline;

  const sampling = (async () => {
    for (let i = 0; i < options.maxMs / SAMPLE_EVERY_MS && going(); i++) {
      const started = Date.now();
      const out = await serversOut(options.runtimeSocket, options.backend, options.servers);
      figures.samples += 1;
      if (out === undefined) figures.samplesUnanswered += 1;
      else figures.mostOut = Math.max(figures.mostOut, out);
      await pause(Math.max(0, SAMPLE_EVERY_MS - (Date.now() - started)), stopped.signal).catch(() => undefined);
    }
  })();

  // Failures are the stream's first 20, each with when it was sent and what came back.
  const asking = startTraffic({ url: options.url, ratePerSecond: REQUESTS_PER_SECOND, durationMs: options.maxMs, timeoutMs: REQUEST_TIMEOUT_MS });

  return {
    async stop() {
      stopped.abort();
      const [, traffic] = await Promise.all([sampling, asking.stop()]);
      return { ...figures, requests: traffic.answered, requestsFailed: traffic.failed, failures: traffic.failures };
    },
  };
}

/** How many of `servers` are not UP and ready (absent, down, drained or in maintenance); undefined when the socket does not answer. */
async function serversOut(socketPath: string, backend: string, servers: string[]): Promise<number | undefined> {
  const ready = await readyServers(socketPath, backend);
  return ready === undefined ? undefined : servers.filter((server) => !ready.has(server)).length;
}

/** The most slot keys and out-of-service hosts Redis held for a group at any sample. */
export interface GroupKeyFigures {
  mostSlots: number;
  mostOut: number;
  samples: number;
  /** Samples Redis did not answer. */
  unanswered: number;
}

/** Samples a group's slot keys and out-of-service set in Redis every 100 ms, bounded in count and in time. */
export function watchGroupKeys(fleet: { groupKeys(env?: string): Promise<GroupKeys> }, maxMs: number, env = 'production'): { stop(): Promise<GroupKeyFigures> } {
  const stopped = new AbortController();
  const figures: GroupKeyFigures = { mostSlots: 0, mostOut: 0, samples: 0, unanswered: 0 };
  const deadline = Date.now() + maxMs;
  const sampling = (async () => {
    for (let i = 0; i < maxMs / SAMPLE_EVERY_MS && !stopped.signal.aborted && Date.now() < deadline; i++) {
      const started = Date.now();
      figures.samples += 1;
      try {
        const { slots, out } = await fleet.groupKeys(env);
        figures.mostSlots = Math.max(figures.mostSlots, slots.length);
        figures.mostOut = Math.max(figures.mostOut, out.length);
      } catch {
        figures.unanswered += 1;
      }
      await pause(Math.max(0, SAMPLE_EVERY_MS - (Date.now() - started)), stopped.signal).catch(() => undefined);
    }
  })();
  return {
    async stop() {
      stopped.abort();
      await sampling;
      return figures;
    },
  };
}
