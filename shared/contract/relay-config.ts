// The load balancer's relay (`grapevine lb-relay`, README "Security"): where it listens, the
// HAProxy runtime socket it alone opens, the Redis it verifies credentials in, and what it allows.
import { z } from 'zod';
import { load } from './config.js';
import { nodeName } from './names.js';
import { ServerTls } from './tls-config.js';

const ipLiteral = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });

export const RelayConfig = z.strictObject({
  /** On the load balancer's network address: the hosts reach it, the runtime socket stays local. */
  listen: z.strictObject({ host: z.string().min(1), port: z.number().int().min(0).max(65535).default(7701) }),
  /** The local admin socket, `unix:/run/haproxy/admin.sock`: never a TCP address, which anybody on the network could reach. */
  runtimeApi: z.string().regex(/^unix:\/\S+$/, 'must be unix:/path (the admin socket stays local to this host)'),
  /** Redis holding the credentials; its user needs only read access to gv:auth:*. */
  redis: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
  /** The only HAProxy backends the relay acts on. */
  backends: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be an HAProxy backend name')).min(1, 'must name at least one backend'),
  /** Per host, IPs it may register besides the one it connects from (a host behind NAT, a second interface). */
  hostAddresses: z.record(nodeName, z.array(ipLiteral)).default({}),
  /** The longest drain a request may ask for. */
  maxDrainTimeoutMs: z.number().int().positive().max(10 * 60_000).default(60_000),
  /** Serve HTTPS with this certificate and key: host tokens cross the network. */
  tls: ServerTls.optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
