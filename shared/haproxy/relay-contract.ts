// The HTTP contract between the load balancer's relay (`grapevine lb-relay`) and its callers,
// an agent (its own server) and the coordinator (weights and traffic): its paths, bodies and
// answers, parsed with these schemas on both sides.
import * as z from 'zod';

/** The names HAProxy's runtime API takes (runtime-api.ts holds commands to the same set). */
export const lbName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -');

const SERVER_ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/;

/** The IP of `ip:port` or `[ipv6]:port`; undefined when it is neither (HAProxy takes no host names there). */
export function addressIp(address: string): string | undefined {
  const match = SERVER_ADDRESS.exec(address);
  return match?.[1] ?? match?.[2];
}

/** A server's address: an IP literal and a port, as `add server` and `set server addr` take it. */
/** HAProxy's bounds of a server's weight. */
export const lbWeight = z.number().int('must be a whole number').min(0, 'must be from 0 to 256').max(256, 'must be from 0 to 256');

export const RegisterBody = z.strictObject({
  address: z.string().max(64).regex(SERVER_ADDRESS, 'must be ip:port (IPv4, or [IPv6])'),
  /** FULL_WEIGHT unless given: a blue/green host registers its idle colour at 0. */
  weight: lbWeight.optional(),
});
export type RegisterBody = z.infer<typeof RegisterBody>;

export const DrainBody = z.strictObject({
  /** How long to wait for open sessions before maintenance; the relay caps it at its own maximum. */
  timeoutMs: z.number().int().nonnegative().max(10 * 60_000).optional(),
});
export type DrainBody = z.infer<typeof DrainBody>;

export const ServersAnswer = z.object({
  servers: z.array(z.object({ name: z.string(), address: z.string(), state: z.enum(['ready', 'drain', 'maint']) })),
});

/** A whole group's switch in one request: every server's weight, set in one runtime exchange. */
export const MAX_WEIGHTED_SERVERS = 1000;
export const WeightsBody = z.strictObject({
  weights: z
    .record(z.string(), lbWeight)
    .superRefine((weights, context) => {
      for (const server of Object.keys(weights)) {
        if (!lbName.safeParse(server).success) context.addIssue({ code: 'custom', path: [server], message: 'server name must be 1-64 letters, digits, _ . or -' });
      }
    })
    .refine((weights) => Object.keys(weights).length >= 1, 'must name at least one server')
    .refine((weights) => Object.keys(weights).length <= MAX_WEIGHTED_SERVERS, `must name at most ${MAX_WEIGHTED_SERVERS} servers`),
});
export type WeightsBody = z.infer<typeof WeightsBody>;

export const WeightsAnswer = z.object({
  servers: z.array(z.object({ name: z.string(), address: z.string(), state: z.enum(['ready', 'drain', 'maint']), weight: z.number() })),
});

const epochMs = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a whole number of ms since the epoch')
  .transform(Number);
/** `from` and `to` (ms since the epoch) of a traffic read; the relay holds the span to its retention. */
export const TrafficQuery = z
  .strictObject({ from: epochMs, to: epochMs })
  .refine((query) => query.from < query.to, { path: ['to'], message: 'must be after from' });

const TrafficBucketSchema = z.object({ at: z.number(), requests: z.number(), errors: z.number(), latencySumMs: z.number(), timed: z.number() });
export const TrafficAnswer = z.object({ servers: z.array(z.object({ server: z.string(), buckets: z.array(TrafficBucketSchema) })) });

export const RelayErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** The server path every change and read goes through; names are encoded by the caller. */
export const relayPaths = {
  servers: (backend: string) => `/v1/backends/${encodeURIComponent(backend)}/servers`,
  drain: (backend: string, server: string) => `/v1/backends/${encodeURIComponent(backend)}/servers/${encodeURIComponent(server)}/drain`,
  register: (backend: string, server: string) => `/v1/backends/${encodeURIComponent(backend)}/servers/${encodeURIComponent(server)}/register`,
  weights: (backend: string) => `/v1/backends/${encodeURIComponent(backend)}/weights`,
  traffic: (backend: string, from: number, to: number) => `/v1/backends/${encodeURIComponent(backend)}/traffic?from=${from}&to=${to}`,
};

/**
 * A routed frontend as its relay knows it (`routing.frontends` in the relay's config): the
 * cluster each backend serves. The coordinator reads it to check a route's clusters and to find
 * a cluster's servers (usage, retire).
 */
export const FrontendAnswer = z.object({
  frontend: z.string(),
  clusters: z.array(z.object({ cluster: z.string(), backend: z.string() })),
  /** The route table the relay applied last; null before the first. */
  routes: z.unknown().nullable(),
});
export type FrontendAnswer = z.infer<typeof FrontendAnswer>;

export const routingPaths = {
  frontend: (frontend: string) => `/v1/frontends/${encodeURIComponent(frontend)}`,
  /** PUT with a RouteTable (shared/contract/routing.ts): applied whole, through the runtime API. */
  routes: (frontend: string) => `/v1/frontends/${encodeURIComponent(frontend)}/routes`,
  /** POST: every server of the backend into maintenance (a retired cluster). */
  maintenance: (backend: string) => `/v1/backends/${encodeURIComponent(backend)}/maintenance`,
};
