// The coordinator `grapevine deploy` talks to in the start-up bench: the real HTTP app over a
// real Redis (its own redis-server on a free loopback port), wired as coordinator/server.ts
// wires the create path (deploy store, fleet state, credentials, events bus), with two
// stand-ins for Serf: a membership of 12 alive hosts and an event sink (no agent listens).
// It times each POST /v1/deploys inside the server: the coordinator's part of the command.
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createApp } from '../coordinator/app.js';
import { FleetEventBus } from '../coordinator/fleet-event-bus.js';
import { ReleasePublisher } from '../coordinator/release-publisher.js';
import { freePort } from '../dev-cluster/free-port.js';
import { pollUntil } from '../shared/contract/waiting.js';
import { serveApp, type ServedApp } from '../shared/http/serve-app.js';
import type { Membership, MembershipFilter, SerfMember } from '../shared/ports/membership.js';
import { RedisCredentialStore } from '../shared/redis/credential-store.js';
import { RedisDeployStore } from '../shared/redis/deploy-store.js';
import { RedisFleetState } from '../shared/redis/fleet-state.js';

export const BENCH_ROLE = 'web';
export const BENCH_ENV = 'production';
const HOSTS = 12;
const REGISTRY = '127.0.0.1:5000';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const REDIS_START_MS = 10_000;

/** Serf's member list as the bench's fleet: 12 alive hosts of the bench's role, filtered as `serf members -tag` filters. */
class BenchMembership implements Membership {
  readonly #all: SerfMember[] = Array.from({ length: HOSTS }, (_, i) => ({ name: `h${i + 1}`, addr: `10.249.0.${11 + i}`, port: 7946, tags: { env: BENCH_ENV, roles: BENCH_ROLE }, status: 'alive' }));

  async members(filter: MembershipFilter = {}): Promise<SerfMember[]> {
    const patterns = Object.entries(filter.tags ?? {}).map(([tag, pattern]) => [tag, new RegExp(`^(?:${pattern})$`)] as const);
    return this.#all.filter((m) => (filter.status === undefined || m.status === filter.status) && patterns.every(([tag, re]) => re.test(m.tags[tag] ?? '')));
  }
}

export interface BenchCoordinator {
  url: string;
  /** Milliseconds each POST /v1/deploys took inside the server, in order. */
  readonly createMs: number[];
  stop(): Promise<void>;
}

export async function startBenchCoordinator(token: string): Promise<BenchCoordinator> {
  const port = await freePort();
  const redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  let redis: Redis | undefined;
  let server: ServedApp | undefined;
  const stop = async () => {
    await server?.close(500);
    redis?.disconnect();
    await stopProcess(redisServer);
  };
  try {
    // Reconnects every 50 ms while redis-server starts; a command fails after one try, and the poll asks again.
    redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    const client = redis;
    // Refused connections while redis-server starts are what the poll waits out, not errors to report.
    client.on('error', () => {});
    await pollUntil('the bench Redis to answer', async () => ((await client.ping()) === 'PONG' ? true : undefined), { timeoutMs: REDIS_START_MS });
    const logger = pino({ level: 'silent' });
    const store = new RedisDeployStore({ redis, logger });
    const registry = { manifestDigest: async () => DIGEST };
    await store.publishRelease({ role: BENCH_ROLE, tag: 'v1', image: `${REGISTRY}/${BENCH_ROLE}@${DIGEST}`, publishedImage: `${REGISTRY}/${BENCH_ROLE}:v1`, digest: DIGEST, publishedAt: Date.now() });
    const app = createApp({
      store,
      events: { fireDeploy: async () => {}, fireRetire: async () => {} },
      membership: new BenchMembership(),
      fleet: new RedisFleetState({ redis, logger, host: 'coordinator' }),
      token,
      credentials: new RedisCredentialStore({ redis, logger }),
      publisher: new ReleasePublisher({ store, registry, defaultRegistry: REGISTRY, allowed: [{ address: REGISTRY, plainHttp: true }], logger, now: Date.now }),
      logger,
      fleetEvents: new FleetEventBus(logger),
    });
    const createMs: number[] = [];
    const timed = async (request: Request): Promise<Response> => {
      if (request.method !== 'POST' || new URL(request.url).pathname !== '/v1/deploys') return app.fetch(request);
      const started = performance.now();
      const response = await app.fetch(request);
      createMs.push(performance.now() - started);
      return response;
    };
    server = await serveApp({ fetch: timed, host: '127.0.0.1', port: await freePort() });
    return { url: server.url, createMs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** SIGTERM, and the exit awaited: the bench leaves no Redis behind. */
function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
