// The load balancer's relay (`grapevine lb-relay`, README "Security"): where it listens, the
// HAProxy runtime socket it alone opens, the Redis it verifies credentials in, and what it allows.
import * as z from 'zod';
import { load } from './config.js';
import { nodeName } from './names.js';
import { clusterName } from './routing.js';
import { ServerTls } from './tls-config.js';
import { RedisSetting } from './redis-config.js';

/** Where HAProxy sends its access log: loopback only, since anyone who can send to it could forge traffic figures. */
const loopbackUdp = z
  .string()
  .regex(/^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]):\d{1,5}$/, 'must be a loopback ip:port (127.0.0.1:PORT or [::1]:PORT): HAProxy runs on this host')
  .refine((listen) => Number(listen.slice(listen.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

/** The longest history of per-second traffic the relay keeps (each server's ring, see lb-relay/traffic-store.ts). */
export const MAX_TRAFFIC_RETAIN_MS = 60 * 60_000;

const backendName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be an HAProxy backend name');

/**
 * Frontends that route client versions to clusters (shared/haproxy/routed-frontend.ts): the
 * directory of their ACL and map files as this process sees it, and per frontend the backend
 * of each cluster, the first one being the frontend's default_backend.
 */
export const RelayRouting = z.strictObject({
  dir: z.string().regex(/^\/[A-Za-z0-9_.\/-]+$/, 'must be an absolute path of letters, digits, _ . / -'),
  frontends: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be an HAProxy frontend name'),
      z.strictObject({
        clusters: z
          .record(clusterName, backendName)
          .refine((clusters) => Object.keys(clusters).length >= 1, 'must name at least one cluster')
          .refine((clusters) => new Set(Object.values(clusters)).size === Object.keys(clusters).length, 'each cluster needs a backend of its own'),
      }),
    )
    .refine((frontends) => Object.keys(frontends).length >= 1, 'must name at least one frontend'),
});
export type RelayRouting = z.infer<typeof RelayRouting>;

const ipLiteral = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });

export const RelayConfig = z.strictObject({
  /** On the load balancer's network address: the hosts reach it, the runtime socket stays local. */
  listen: z.strictObject({ host: z.string().min(1), port: z.number().int().min(0).max(65535).default(7701) }),
  /** The local admin socket, `unix:/run/haproxy/admin.sock`: never a TCP address, which anybody on the network could reach. */
  runtimeApi: z.string().regex(/^unix:\/\S+$/, 'must be unix:/path (the admin socket stays local to this host)'),
  /** Redis holding the credentials; its user needs only read access to gv:auth:*. */
  redis: RedisSetting,
  /** The only HAProxy backends the relay acts on. */
  backends: z.array(backendName).min(1, 'must name at least one backend'),
  /** Per host, IPs it may register besides the one it connects from (a host behind NAT, a second interface). */
  hostAddresses: z.record(nodeName, z.array(ipLiteral)).default({}),
  /** The longest drain a request may ask for. */
  maxDrainTimeoutMs: z.number().int().positive().max(10 * 60_000).default(60_000),
  /**
   * HAProxy's access log, one UDP datagram per request (haproxy-config.ts `accessLog`): the
   * relay counts each server's requests, 5xx answers and response times per second for the
   * last `retainMs`, which the coordinator reads to judge a canary. No traffic figures without it.
   */
  accessLog: z
    .strictObject({
      listen: loopbackUdp,
      retainMs: z.number().int().min(10_000, 'must be at least 10000 ms').max(MAX_TRAFFIC_RETAIN_MS, `must be at most ${MAX_TRAFFIC_RETAIN_MS} ms (an hour)`).default(15 * 60_000),
    })
    .optional(),
  /** Serve HTTPS with this certificate and key: host tokens cross the network. */
  tls: ServerTls.optional(),
  /** Routing client versions to clusters; without it the routing endpoints answer 404. */
  routing: RelayRouting.optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).superRefine((config, context) => {
  // The relay acts only on `backends`: a cluster's backend outside them could never be retired through it.
  for (const [frontend, { clusters }] of Object.entries(config.routing?.frontends ?? {})) {
    for (const [cluster, backend] of Object.entries(clusters)) {
      if (!config.backends.includes(backend)) {
        context.addIssue({ code: 'custom', path: ['routing', 'frontends', frontend, 'clusters', cluster], message: `backend ${backend} must be one of backends (${config.backends.join(', ')})` });
      }
    }
  }
});
export type RelayConfig = z.infer<typeof RelayConfig>;

const RELAY_ENV: Record<string, [string[], (v: string) => unknown]> = {
  GRAPEVINE_REDIS_URL: [['redis'], String],
  GRAPEVINE_RELAY_PORT: [['listen', 'port'], Number],
  GRAPEVINE_LOG_LEVEL: [['logLevel'], String],
};

export function loadRelayConfig(file: string | undefined, env: Record<string, string | undefined>): RelayConfig {
  return load(RelayConfig, file, env, RELAY_ENV, 'lb-relay config');
}
