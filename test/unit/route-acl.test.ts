// The flattening of a route table into HAProxy's per-cluster integer ranges agrees with the
// table read route by route, for any table, version and client type.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ROUTES, type RouteTable } from '../../shared/contract/routing.js';
import { NO_VERSION_KEY, TYPE_SPAN, UnknownClusterError, clustersOfKey, flattenRoutes, intPatternHolds, requestKey, routeOf } from '../../shared/haproxy/route-acl.js';

const CLUSTERS = ['red', 'white', 'blue'];
const TYPES = ['ios', 'android', 'web'];

// Parts from a small set (edges included) so that random versions land on and around the routes' bounds.
const part = fc.oneof(fc.constantFrom(0, 1, 2, 9, 10, 9998, 9999), fc.integer({ min: 0, max: 9999 }));
const version = fc.oneof(
  fc.tuple(part).map(([a]) => `${a}`),
  fc.tuple(part, part).map(([a, b]) => `${a}.${b}`),
  fc.tuple(part, part, part).map(([a, b, c]) => `${a}.${b}.${c}`),
);
const comparison = fc.tuple(fc.constantFrom('>=', '>', '<=', '<', '=', ''), version).map(([op, v]) => `${op}${v}`);
const range = fc.oneof(
  fc.constant('*'),
  comparison,
  fc.tuple(fc.constantFrom('>=', '>'), version, fc.constantFrom('<=', '<'), version).map(([a, v, b, w]) => `${a}${v} ${b}${w}`),
);
const route = fc.record(
  { client: range, clientType: fc.constantFrom(...TYPES), cluster: fc.constantFrom(...CLUSTERS) },
  { requiredKeys: ['client', 'cluster'] },
);
/** Ranges that take no version (`>2 <1`) are refused by the schema: left out here as well. */
const table = fc
  .record({ routes: fc.array(route, { maxLength: MAX_ROUTES }), defaultCluster: fc.constantFrom(...CLUSTERS) })
  .map((t): RouteTable => ({ ...t, routes: t.routes.filter((r) => takesSomeVersion(r.client)) }));
const header = fc.oneof(version, fc.constantFrom(undefined, '', 'x', '1.a', '12345', '1.2.3.4', '1..2', ' 1.1 '));
const typeHeader = fc.constantFrom(undefined, 'ios', 'IOS', 'Android', 'web', 'tv', '');

function takesSomeVersion(client: string): boolean {
  try {
    flattenRoutes({ routes: [{ client, cluster: 'red' }], defaultCluster: 'red' }, CLUSTERS);
    return true;
  } catch {
    return false;
  }
}

describe('flattening a route table into integer ranges per cluster', () => {
  it('sends every request where the table read route by route sends it, and every key to exactly one cluster', () => {
    fc.assert(
      fc.property(table, fc.array(fc.tuple(header, typeHeader), { minLength: 1, maxLength: 20 }), (t, requests) => {
        const flat = flattenRoutes(t, CLUSTERS);
        for (const [v, type] of requests) {
          expect(clustersOfKey(flat, requestKey(flat, v, type))).toEqual([routeOf(t, v, type)]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('covers every key of every type code with no gap or overlap, its adjacent ranges merged', () => {
    fc.assert(
      fc.property(table, (t) => {
        const flat = flattenRoutes(t, CLUSTERS);
        const ranges = Object.entries(flat.clusters)
          .flatMap(([cluster, patterns]) => patterns.filter((p) => p !== ':-1').map((p) => ({ cluster, from: Number(p.split(':')[0]), to: Number(p.split(':')[1]) })))
          .sort((a, b) => a.from - b.from);
        expect(ranges[0]?.from).toBe(0);
        expect(ranges.at(-1)?.to).toBe((flat.types.length + 1) * TYPE_SPAN - 1);
        for (let i = 1; i < ranges.length; i++) {
          expect(ranges[i]!.from).toBe(ranges[i - 1]!.to + 1);
          expect(ranges[i]!.cluster).not.toBe(ranges[i - 1]!.cluster);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives the example table its ranges: 1.1 and up to white, the rest and no version to red, an empty list to an unused cluster', () => {
    const flat = flattenRoutes({ routes: [{ client: '>=1.1', cluster: 'white' }], defaultCluster: 'red' }, CLUSTERS);
    expect(flat).toEqual({ types: [], clusters: { red: [':-1', '0:100009999'], white: ['100010000:999999999999'], blue: [] } });
    expect(clustersOfKey(flat, requestKey(flat, '1.0', undefined))).toEqual(['red']);
    expect(clustersOfKey(flat, requestKey(flat, '1.1', 'ios'))).toEqual(['white']);
    expect(requestKey(flat, undefined, undefined)).toBe(NO_VERSION_KEY);
  });

  it('codes the types routes name from 1, in the order they are named, and keeps a typed route to its type', () => {
    const t: RouteTable = {
      routes: [
        { client: '<2', clientType: 'android', cluster: 'blue' },
        { client: '>=1.1', cluster: 'white' },
      ],
      defaultCluster: 'red',
    };
    const flat = flattenRoutes(t, CLUSTERS);
    expect(flat.types).toEqual([['android', 1]]);
    expect(routeOf(t, '1.5', 'Android')).toBe('blue');
    expect(clustersOfKey(flat, requestKey(flat, '1.5', 'Android'))).toEqual(['blue']);
    expect(clustersOfKey(flat, requestKey(flat, '1.5', 'ios'))).toEqual(['white']);
    expect(clustersOfKey(flat, requestKey(flat, '2.0', 'android'))).toEqual(['white']);
  });

  it('reads integer patterns as HAProxy does: the first : or - separates the bounds', () => {
    expect(intPatternHolds('-1', -1)).toBe(true);
    expect(intPatternHolds('-1', 1)).toBe(true); // "up to 1", which is why the default's pattern is ":-1"
    expect(intPatternHolds(':-1', -1)).toBe(true);
    expect(intPatternHolds(':-1', 0)).toBe(false);
    expect(intPatternHolds('5:9', 9)).toBe(true);
    expect(intPatternHolds('5:9', 10)).toBe(false);
    expect(intPatternHolds('7', 7)).toBe(true);
  });

  it('refuses a table naming a cluster the frontend does not have, naming it', () => {
    const t: RouteTable = { routes: [{ client: '>=1.1', cluster: 'green' }], defaultCluster: 'red' };
    expect(() => flattenRoutes(t, CLUSTERS, 'web')).toThrow(UnknownClusterError);
    expect(() => flattenRoutes({ routes: [], defaultCluster: 'grey' }, CLUSTERS, 'web')).toThrow(/cluster "grey" is not one of web's clusters \(red, white, blue\)/);
  });
});
