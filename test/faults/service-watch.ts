// What an operator watching the load balancer sees while a fault runs: HAProxy's server
// states sampled every 100 ms through its runtime socket, and about 20 requests a second
// through the frontend. Both loops are bounded in count and in time.
import net from 'node:net';
import { pause } from '../../shared/contract/waiting.js';

const SAMPLE_EVERY_MS = 100;
const REQUEST_EVERY_MS = 50;
const REQUEST_TIMEOUT_MS = 2_000;
const SOCKET_TIMEOUT_MS = 1_000;

export interface ServiceFigures {
  /** The most of the watched servers not UP and ready at any one sample. */
  mostOut: number;
  samples: number;
  /** Samples the runtime socket did not answer. */
  samplesUnanswered: number;
  requests: number;
  /** Requests that got no answer or an answer other than 2xx. */
  requestsFailed: number;
}

export interface ServiceWatch {
  /** Ends both loops and returns what they saw. */
  stop(): Promise<ServiceFigures>;
}

/** Watches `servers` of `backend` and asks `url`; stops by itself after `maxMs`. */
export function watchService(options: { runtimeSocket: string; backend: string; servers: string[]; url: string; maxMs: number }): ServiceWatch {
  const stopped = new AbortController();
  const figures: ServiceFigures = { mostOut: 0, samples: 0, samplesUnanswered: 0, requests: 0, requestsFailed: 0 };
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

  const asking = (async () => {
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < options.maxMs / REQUEST_EVERY_MS && going(); i++) {
      const request = ask(options.url).then((ok) => {
        figures.requests += 1;
        if (!ok) figures.requestsFailed += 1;
      });
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      await pause(REQUEST_EVERY_MS, stopped.signal).catch(() => undefined);
    }
    await Promise.all(inFlight);
  })();

  return {
    async stop() {
      stopped.abort();
      await Promise.all([sampling, asking]);
      return figures;
    },
  };
}

async function ask(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * How many of `servers` are not UP and ready: absent from the backend, not running
 * (srv_op_state other than 2) or in maintenance or draining (srv_admin_state not 0).
 * Undefined when the socket does not answer.
 */
async function serversOut(socketPath: string, backend: string, servers: string[]): Promise<number | undefined> {
  const reply = await runtimeCommand(socketPath, `show servers state ${backend}`);
  if (reply === undefined || !reply.startsWith('1\n#')) return undefined;
  const [header, ...rows] = reply.split('\n').slice(1);
  const columns = (header ?? '').replace(/^#\s*/, '').split(' ');
  const at = (name: string) => columns.indexOf(name);
  const ready = new Set<string>();
  for (const row of rows) {
    const cells = row.split(' ');
    if (cells.length < columns.length) continue;
    if (cells[at('srv_op_state')] === '2' && cells[at('srv_admin_state')] === '0') ready.add(cells[at('srv_name')] ?? '');
  }
  return servers.filter((server) => !ready.has(server)).length;
}

function runtimeCommand(socketPath: string, command: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.createConnection(socketPath);
    socket.setTimeout(SOCKET_TIMEOUT_MS, () => socket.destroy());
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => resolve(undefined));
    socket.on('close', (hadError) => resolve(hadError ? undefined : Buffer.concat(chunks).toString('utf8')));
  });
}
