// A route table (shared/contract/routing.ts) as HAProxy evaluates it without Lua: the routed
// frontend (routed-frontend.ts) turns each request into one integer key,
//   key = typeCode * 10^12 + MAJOR * 10^8 + MINOR * 10^4 + PATCH   (-1 without a valid version),
// where typeCode comes from the types map (0 for no type or one no route names), and one
// integer ACL per cluster lists the key ranges that go to it. Flattening the ordered table
// (first match wins) into disjoint ranges is done here, once per change, so HAProxy only
// looks a key up in sorted ranges.
import { GrapevineError } from '../contract/errors.js';
import { VERSION_KEYS, parseVersionRange, versionKey, type RouteTable } from '../contract/routing.js';

/** One type's keys span VERSION_KEYS (10^12): a type code shifts a version key past every version of the codes below. */
export const TYPE_SPAN = VERSION_KEYS;
/** The key of a request without a version, or with one that is not MAJOR[.MINOR[.PATCH]]. */
export const NO_VERSION_KEY = -1;
/**
 * The default cluster's pattern for NO_VERSION_KEY: every key up to -1. Not `-1`, which HAProxy
 * reads as the range "up to 1" (`-` separates a range's bounds as `:` does).
 */
export const NO_VERSION_PATTERN = `:${NO_VERSION_KEY}`;

/** A route or the default names a cluster the frontend has no backend for: the caller's input, answered 400. */
export class UnknownClusterError extends GrapevineError {
  readonly cluster: string;
  constructor(cluster: string, frontend: string, known: readonly string[]) {
    super('unknown_cluster', `cluster ${JSON.stringify(cluster)} is not one of ${frontend}'s clusters (${known.join(', ')})`);
    this.cluster = cluster;
  }
}

export interface FlatRoutes {
  /** Each client type a route names (lower case) and its code, 1..n in the order the routes first name them. */
  types: Array<[type: string, code: number]>;
  /** Every configured cluster's ACL patterns, ascending: NO_VERSION_PATTERN (the default's) and `from:to`; maybe none. */
  clusters: Record<string, string[]>;
}

/** The clusters `table` names that are not among `clusters`, each once, in the order named. */
export function unknownClusters(table: RouteTable, clusters: readonly string[]): string[] {
  const named = [...table.routes.map((route) => route.cluster), table.defaultCluster];
  return [...new Set(named.filter((cluster) => !clusters.includes(cluster)))];
}

export function flattenRoutes(table: RouteTable, clusters: readonly string[], frontend = 'the frontend'): FlatRoutes {
  const unknown = unknownClusters(table, clusters)[0];
  if (unknown !== undefined) throw new UnknownClusterError(unknown, frontend, clusters);
  const types = [...new Set(table.routes.flatMap((route) => (route.clientType === undefined ? [] : [route.clientType])))];
  const parsed = table.routes.map((route) => ({ ...parseVersionRange(route.client), clientType: route.clientType, cluster: route.cluster }));
  const ranges = new Map<string, Array<{ from: number; to: number }>>(clusters.map((cluster) => [cluster, []]));
  const push = (cluster: string, from: number, to: number) => {
    const list = ranges.get(cluster)!;
    const last = list.at(-1);
    // Ranges arrive in ascending order, so one that touches the last one of its cluster extends it.
    if (last !== undefined && last.to + 1 === from) last.to = to;
    else list.push({ from, to });
  };
  for (let code = 0; code <= types.length; code++) {
    const type = code === 0 ? undefined : types[code - 1];
    const applicable = parsed.filter((route) => route.clientType === undefined || route.clientType === type);
    // Every key between two consecutive cuts is taken by the same route (or none).
    const cuts = [...new Set([0, VERSION_KEYS, ...applicable.flatMap((route) => [route.from, route.to + 1])])].sort((a, b) => a - b);
    for (let i = 0; i + 1 < cuts.length; i++) {
      const start = cuts[i]!;
      const cluster = applicable.find((route) => route.from <= start && start <= route.to)?.cluster ?? table.defaultCluster;
      push(cluster, code * TYPE_SPAN + start, code * TYPE_SPAN + cuts[i + 1]! - 1);
    }
  }
  const patterns: Record<string, string[]> = {};
  for (const cluster of clusters) {
    const own = ranges.get(cluster)!.map(({ from, to }) => `${from}:${to}`);
    patterns[cluster] = cluster === table.defaultCluster ? [NO_VERSION_PATTERN, ...own] : own;
  }
  return { types: types.map((type, i) => [type, i + 1]), clusters: patterns };
}

/** The key HAProxy computes for a request with these headers (undefined: header absent). */
export function requestKey(flat: Pick<FlatRoutes, 'types'>, version: string | undefined, type: string | undefined): number {
  const key = version === undefined ? undefined : versionKey(version.trim());
  if (key === undefined) return NO_VERSION_KEY;
  const code = flat.types.find(([name]) => name === type?.trim().toLowerCase())?.[1] ?? 0;
  return code * TYPE_SPAN + key;
}

/** Every cluster whose patterns hold `key`, as HAProxy's `-m int` matches them (exactly one for a flattened table). */
export function clustersOfKey(flat: Pick<FlatRoutes, 'clusters'>, key: number): string[] {
  return Object.entries(flat.clusters)
    .filter(([, patterns]) => patterns.some((pattern) => intPatternHolds(pattern, key)))
    .map(([cluster]) => cluster);
}

/**
 * HAProxy's reading of an integer pattern (pattern.c, pat_parse_int): the first `:` or `-`
 * separates the bounds, either of which may be left out (`5`, `5:9`, `:9`, `5:`), so a
 * pattern never starts with a minus sign; a bound after the separator may.
 */
export function intPatternHolds(pattern: string, key: number): boolean {
  const at = pattern.search(/[:-]/);
  if (at < 0) return Number(pattern) === key;
  const min = pattern.slice(0, at);
  const max = pattern.slice(at + 1);
  return (min === '' || Number(min) <= key) && (max === '' || key <= Number(max));
}

/** The cluster the table sends a request to, evaluated route by route (what the flattening must agree with). */
export function routeOf(table: RouteTable, version: string | undefined, type: string | undefined): string {
  const key = version === undefined ? undefined : versionKey(version.trim());
  if (key === undefined) return table.defaultCluster;
  const clientType = type?.trim().toLowerCase();
  for (const route of table.routes) {
    if (route.clientType !== undefined && route.clientType !== clientType) continue;
    const { from, to } = parseVersionRange(route.client);
    if (from <= key && key <= to) return route.cluster;
  }
  return table.defaultCluster;
}
