// Red-white routing's pure rules: a route table's changes, which rollouts say what a host of a
// cluster runs (catch-up and reconcile), and a retired cluster's host left out of service.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { newestRollout } from '../../agent/catch-up.js';
import { GroupLanes } from '../../agent/deploy/group-lanes.js';
import { acceptedImages, Reconciler } from '../../agent/reconcile.js';
import { deployMain } from '../../coordinator/ui/deploy-page.js';
import { checkKnown, checkNotRetired, initialTable, routesTo, withDefault, withRoute, withoutRoute } from '../../coordinator/routing/route-table.js';
import { MAX_ROUTES, describeRoutes, rolloutApplies, type RouteTable } from '../../shared/contract/routing.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import type { BackendServer, LoadBalancer } from '../../shared/ports/load-balancer.js';
import { withHostView } from '../fixtures/host-view.js';

const CLUSTERS = [
  { cluster: 'red', backend: 'web_red' },
  { cluster: 'white', backend: 'web_white' },
];
const empty: RouteTable = { routes: [], defaultCluster: 'red' };

function deploy(tag: string, status: Deploy['status'], cluster?: string): Deploy {
  return { id: `d-${tag}`, role: 'web', env: 'production', tag, image: `127.0.0.1:5000/web:${tag}`, status, createdAt: 1, hosts: {}, ...(cluster ? { cluster } : {}) };
}

describe('a route table', () => {
  it('starts with no route and the frontend’s first cluster as the default', () => {
    expect(initialTable(CLUSTERS, 'web_in')).toEqual({ routes: [], defaultCluster: 'red' });
    expect(() => initialTable([], 'web_in')).toThrow(/frontend web_in has no cluster/);
  });

  it('puts a new route first and replaces one of the same client text and type, wherever it was', () => {
    let table = withRoute(empty, { client: '>=1.1', cluster: 'white' });
    table = withRoute(table, { client: '<1.0', clientType: 'ios', cluster: 'red' });
    expect(table.routes.map((r) => r.client)).toEqual(['<1.0', '>=1.1']);
    table = withRoute(table, { client: ' >=1.1 ', cluster: 'red' });
    expect(table.routes).toEqual([
      { client: '>=1.1', cluster: 'red' },
      { client: '<1.0', clientType: 'ios', cluster: 'red' },
    ]);
    // The same client text for another type is another route.
    table = withRoute(table, { client: '>=1.1', clientType: 'ios', cluster: 'white' });
    expect(table.routes).toHaveLength(3);
    expect(describeRoutes(table)).toBe('ios >=1.1 -> white, >=1.1 -> red, ios <1.0 -> red, else red');
  });

  it(`refuses a route past ${MAX_ROUTES}, naming the field and the way out`, () => {
    let table = empty;
    for (let i = 0; i < MAX_ROUTES; i += 1) table = withRoute(table, { client: `=1.${i}`, cluster: 'white' });
    expect(() => withRoute(table, { client: '=2.0', cluster: 'white' })).toThrow(/routes: a group has at most 32 routes; remove one first/);
  });

  it('removes a route by its client and type, and names one that is absent', () => {
    const table = withRoute(withRoute(empty, { client: '>=1.1', cluster: 'white' }), { client: '>=1.1', clientType: 'ios', cluster: 'white' });
    expect(withoutRoute(table, '>=1.1', 'ios').routes).toEqual([{ client: '>=1.1', cluster: 'white' }]);
    expect(() => withoutRoute(table, '>=1.2', undefined)).toThrow('no route for client ">=1.2" and every client type');
    expect(() => withoutRoute(table, '>=1.1', 'android')).toThrow('no route for client ">=1.1" and client type android');
  });

  it('checks clusters against the frontend’s, and refuses a retired one', () => {
    expect(checkKnown('white', CLUSTERS, 'web_in').backend).toBe('web_white');
    expect(() => checkKnown('blue', CLUSTERS, 'web_in')).toThrow('cluster: blue is not a cluster of the load balancer\'s frontend web_in; its clusters are red, white');
    expect(() => checkNotRetired('red', new Set(['red']))).toThrow(/cluster red is retired; deploy to it/);
    expect(() => checkNotRetired('white', new Set(['red']))).not.toThrow();
  });

  it('names what still sends requests to a cluster', () => {
    const table = withDefault(withRoute(empty, { client: '<1.1', clientType: 'ios', cluster: 'red' }), 'red');
    expect(routesTo(table, 'red')).toEqual(['the default cluster', 'route ios <1.1']);
    expect(routesTo(withDefault(withoutRoute(table, '<1.1', 'ios'), 'white'), 'red')).toEqual([]);
  });
});

describe('which rollouts a host of a cluster goes by', () => {
  const history = [deploy('v3', 'succeeded', 'white'), deploy('v2', 'succeeded', 'red'), deploy('v1', 'succeeded')];

  it('a rollout to the whole group reaches every host; one to a cluster only that cluster’s', () => {
    expect(rolloutApplies({}, 'red')).toBe(true);
    expect(rolloutApplies({}, undefined)).toBe(true);
    expect(rolloutApplies({ cluster: 'white' }, 'red')).toBe(false);
    expect(rolloutApplies({ cluster: 'white' }, undefined)).toBe(false);
    expect(rolloutApplies({ cluster: 'white' }, 'white')).toBe(true);
  });

  it('catch-up: a red host goes by red’s newest rollout, never white’s', () => {
    expect(newestRollout(history, 'red')?.tag).toBe('v2');
    expect(newestRollout(history, 'white')?.tag).toBe('v3');
    expect(newestRollout(history)?.tag).toBe('v1');
  });

  it('reconcile: a red host may run red’s release, not white’s', () => {
    expect([...acceptedImages(history, 'red')]).toEqual(['127.0.0.1:5000/web:v2']);
    expect([...acceptedImages(history, 'white')]).toEqual(['127.0.0.1:5000/web:v3']);
  });
});

class OutOfService implements LoadBalancer {
  registered: string[] = [];
  async drain(): Promise<void> {}
  async register(_backend: string, server: string): Promise<void> {
    this.registered.push(server);
  }
  async servers(): Promise<BackendServer[]> {
    return [{ name: 'r1', address: '10.0.0.2:8080', state: 'maint' }];
  }
}

describe('a host of a retired cluster', () => {
  const reconciler = (retired: string[], lb: OutOfService) =>
    new Reconciler({
      node: 'r1',
      env: 'production',
      cluster: 'red',
      retiredClusters: async () => retired,
      lb: { web: { backend: 'web_red', address: '10.0.0.2:8080' } },
      coordinator: { listHostViews: async () => [withHostView(deploy('v2', 'succeeded', 'red'), 'h1')], groupColour: async () => ({ live: 'blue', retired: null }) },
      runtime: { runningImage: async () => '127.0.0.1:5000/web:v2', waitHealthy: async () => undefined },
      loadBalancer: lb,
      lanes: new GroupLanes(),
      logger: pino({ level: 'silent' }),
    });

  it('is not put back in service while its cluster is retired, and is once it no longer is', async () => {
    const lb = new OutOfService();
    expect(await reconciler(['red'], lb).round(new AbortController().signal)).toEqual({ web: 'cluster_retired' });
    expect(lb.registered).toEqual([]);
    expect(await reconciler([], lb).round(new AbortController().signal)).toEqual({ web: 'back_in_service' });
    expect(lb.registered).toEqual(['r1']);
  });
});

describe('the dashboard’s deploy page', () => {
  it('names the cluster a deploy went to, and nothing for a deploy to the whole group', () => {
    const page = (d: Deploy) => deployMain({ deploy: d, release: undefined, now: 2, scope: 'viewer', actor: 'viewer v', csrf: 'c' }).toString();
    expect(page(deploy('v3', 'succeeded', 'white'))).toContain('to production, cluster <strong>white</strong>');
    expect(page(deploy('v1', 'succeeded'))).not.toContain('cluster <strong>');
  });
});
