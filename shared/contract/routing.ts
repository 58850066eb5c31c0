// Red-white routing (README, "Red-white routing"): hosts of a role carry a `cluster` Serf tag,
// and the load balancer picks a cluster's servers by the client's version (X-Client-Version,
// optionally X-Client-Type). A group's route table is an ordered list (the first route a
// request matches wins) and a default cluster for every other request, kept by the coordinator
// and applied to HAProxy by the relay through the runtime API, never a reload.
import * as z from 'zod';
import { clusterName } from './names.js';

// Defined with the other names, so `grapevine deploy --cluster` builds no route schema.
export { clusterName } from './names.js';
/** The client's kind (`ios`, `android`), compared in lower case. */
export const clientTypeName = clusterName;

/** The request headers a route reads. */
export const CLIENT_VERSION_HEADER = 'X-Client-Version';
export const CLIENT_TYPE_HEADER = 'X-Client-Type';

/** Each part of a version (MAJOR[.MINOR[.PATCH]]) is at most this. */
export const MAX_VERSION_PART = 9999;
/** One past the largest key of a version: MAJOR * 10^8 + MINOR * 10^4 + PATCH. */
export const VERSION_KEYS = (MAX_VERSION_PART + 1) ** 3;
export const MAX_ROUTES = 32;

const VERSION = /^(\d{1,4})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?$/;
const COMPARATOR = /^(>=|<=|>|<|=)?(.+)$/;

/** The key a version sorts by (missing parts are 0), or undefined when it is not MAJOR[.MINOR[.PATCH]]. */
export function versionKey(text: string): number | undefined {
  const match = VERSION.exec(text);
  if (!match) return undefined;
  const [major, minor = '0', patch = '0'] = match.slice(1);
  return Number(major) * 10 ** 8 + Number(minor) * 10 ** 4 + Number(patch);
}

/** Versions from `from` to `to`, both included, as keys. */
export interface KeyRange {
  from: number;
  to: number;
}

/**
 * The versions a range takes, as one key range: space-separated comparisons, all of which must
 * hold (`>=1.1`, `<1.1`, `>=1.0 <1.2`, `=1.2.3`, `1.2.3` alone meaning `=`), or `*` for every
 * version. Throws an Error naming what is wrong; an empty range (`>2 <1`) is refused too.
 */
export function parseVersionRange(text: string): KeyRange {
  const trimmed = text.trim();
  if (trimmed === '*') return { from: 0, to: VERSION_KEYS - 1 };
  if (trimmed === '') throw new Error('is empty; write a range such as >=1.1, <1.1, >=1.0 <1.2 or *');
  let from = 0;
  let to = VERSION_KEYS - 1;
  for (const part of trimmed.split(/\s+/)) {
    const [, op = '=', version = ''] = COMPARATOR.exec(part) ?? [];
    const key = versionKey(version);
    if (key === undefined) {
      throw new Error(`has ${JSON.stringify(part)}, which is not a comparison (>=, >, <=, <, =) with a version MAJOR[.MINOR[.PATCH]] of parts 0-${MAX_VERSION_PART}`);
    }
    if (op === '>=' || op === '=') from = Math.max(from, key);
    if (op === '>') from = Math.max(from, key + 1);
    if (op === '<=' || op === '=') to = Math.min(to, key);
    if (op === '<') to = Math.min(to, key - 1);
  }
  if (from > to) throw new Error(`${JSON.stringify(trimmed)} takes no version at all`);
  return { from, to };
}

export const versionRange = z
  .string()
  .max(100)
  .superRefine((text, context) => {
    try {
      parseVersionRange(text);
    } catch (error) {
      context.addIssue({ code: 'custom', message: `must be a version range: ${(error as Error).message}` });
    }
  });

export const Route = z.strictObject({
  /** The versions this route takes (parseVersionRange). */
  client: versionRange,
  /** Only clients of this type (X-Client-Type); every type when unset. */
  clientType: clientTypeName.optional(),
  cluster: clusterName,
});
export type Route = z.infer<typeof Route>;

/** A group's routes in order (the first one a request matches wins) and where every other request goes. */
export const RouteTable = z.strictObject({
  routes: z.array(Route).max(MAX_ROUTES, `must be at most ${MAX_ROUTES} routes`),
  /** Requests without a version, with one no route takes, or with one that is not MAJOR[.MINOR[.PATCH]]. */
  defaultCluster: clusterName,
});
export type RouteTable = z.infer<typeof RouteTable>;

/** Body of `POST /v1/groups/:role/:env/routes` (`grapevine route set`): a route put first, replacing one of the same client and type. */
export const SetRouteBody = Route;
/** Body of `PUT /v1/groups/:role/:env/routes/default`. */
export const DefaultClusterBody = z.strictObject({ cluster: clusterName });

/** Requests per cluster over a window, from the load balancer's own log (`grapevine route usage`). */
export const RouteUsage = z.object({
  role: z.string(),
  env: z.string(),
  from: z.number(),
  to: z.number(),
  clusters: z.array(z.object({ cluster: z.string(), backend: z.string(), requests: z.number(), errors: z.number(), retired: z.boolean() })),
});
export type RouteUsage = z.infer<typeof RouteUsage>;

/** A table in one line, as the audit log and notifications say it: `>=1.1 -> white, ios <1.0 -> red, else red`. */
export function describeRoutes(table: RouteTable): string {
  const routes = table.routes.map((route) => `${route.clientType === undefined ? '' : `${route.clientType} `}${route.client} -> ${route.cluster}`);
  return [...routes, `else ${table.defaultCluster}`].join(', ');
}

/**
 * Whether a rollout says what a host of `hostCluster` (undefined: a host with no cluster tag)
 * should run: a rollout to the whole group does, one to a cluster only for that cluster's hosts.
 * Catch-up and reconcile both ask it, so a deploy of `white` never pulls a `red` host along.
 */
export function rolloutApplies(deploy: { cluster?: string | undefined }, hostCluster: string | undefined): boolean {
  return deploy.cluster === undefined || deploy.cluster === hostCluster;
}
