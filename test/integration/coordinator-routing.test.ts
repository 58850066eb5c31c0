// Routes kept by the coordinator, applied by a real relay to a real HAProxy, over a real Redis
// (test/fixtures/routed-coordinator.ts): an operator sets, removes and defaults routes and sees
// clients answered by the cluster named; a bad route (unknown cluster, malformed range) changes
// nothing; a change the load balancer cannot take is put back; a cluster is retired only once
// nothing routes to it, and a deploy to it brings it back.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { BACKENDS, ROUTES, routedCoordinator } from '../fixtures/routed-coordinator.js';
import { until } from '../fixtures/poll.js';

const routed = routedCoordinator();
const { call, answeredBy, registerServers, storedRoutes, appliedRoutes } = routed;

describe('routes kept by the coordinator', () => {
  it('sends new clients to the cluster a route names, and the rest to the default', async () => {
    const before = await call('GET', ROUTES);
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body).toMatchObject({ frontend: 'web', routes: [], defaultCluster: 'red', clusters: [{ cluster: 'red', backend: 'web.red', retired: false }, { cluster: 'white', backend: 'web.white', retired: false }] });
    expect(await answeredBy('1.1')).toBe('red');

    const set = await call('POST', ROUTES, { client: '>=1.1', cluster: 'white' });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toMatchObject({ routes: [{ client: '>=1.1', cluster: 'white' }], defaultCluster: 'red' });
    expect(await answeredBy('1.1')).toBe('white');
    expect(await answeredBy('2.0')).toBe('white');
    expect(await answeredBy('1.0')).toBe('red');
    expect(await answeredBy()).toBe('red');
    expect(await storedRoutes()).toEqual({ routes: [{ client: '>=1.1', cluster: 'white' }], defaultCluster: 'red' });

    // A route for iOS clients only, put first; then the default moves to white.
    expect((await call('POST', ROUTES, { client: '<1.1', clientType: 'ios', cluster: 'white' })).status).toBe(200);
    expect(await answeredBy('1.0', 'ios')).toBe('white');
    expect(await answeredBy('1.0', 'android')).toBe('red');
    expect((await call('PUT', `${ROUTES}/default`, { cluster: 'white' })).status).toBe(200);
    expect(await answeredBy()).toBe('white');

    const removed = await call('DELETE', `${ROUTES}?client=${encodeURIComponent('<1.1')}&clientType=ios`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(removed.body.routes).toEqual([{ client: '>=1.1', cluster: 'white' }]);
    expect(await answeredBy('1.0', 'ios')).toBe('white'); // the default now
    expect(await appliedRoutes()).toEqual(await storedRoutes());

    const changes = routed.coordinator.published.filter((e) => e.kind === 'routes.changed');
    expect(changes.map((e) => e.kind === 'routes.changed' && e.change)).toEqual(['route >=1.1 -> white set', 'route ios <1.1 -> white set', 'default cluster set to white', 'route ios <1.1 removed']);
  });

  it('takes effect for new requests within 1 s of the operator’s change, through the coordinator (figure printed)', async () => {
    const took: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const cluster = i % 2 === 0 ? 'white' : 'red';
      const started = performance.now();
      expect((await call('POST', ROUTES, { client: '>=1.1', cluster })).status).toBe(200);
      await until(`1.1 answered by ${cluster}`, async () => ((await answeredBy('1.1')) === cluster ? true : undefined), { timeoutMs: 1_000, intervalMs: 5 });
      took.push(performance.now() - started);
    }
    const sorted = [...took].sort((a, b) => a - b);
    console.log(`route change through the coordinator, request to first new request served by the new cluster: median ${sorted[5]!.toFixed(1)} ms, max ${sorted[9]!.toFixed(1)} ms (10 changes)`);
    expect(sorted[9]!).toBeLessThan(1_000);
  });

  it('keeps both of two changes sent at once, in the store and in HAProxy', async () => {
    const answers = await Promise.all([call('POST', ROUTES, { client: '>=2.0', cluster: 'white' }), call('POST', ROUTES, { client: '<1.0', clientType: 'ios', cluster: 'white' })]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    const stored = (await storedRoutes()) as { routes: unknown[] };
    expect(stored.routes).toHaveLength(2);
    expect(await appliedRoutes()).toEqual(stored);
    expect(await answeredBy('2.1')).toBe('white');
    expect(await answeredBy('0.9', 'ios')).toBe('white');
  });

  it('refuses an unknown cluster, a malformed range or a missing route, naming it, and changes nothing', async () => {
    expect((await call('POST', ROUTES, { client: '>=1.1', cluster: 'white' })).status).toBe(200);
    const stored = await storedRoutes();

    const unknown = await call('POST', ROUTES, { client: '>=1.2', cluster: 'blue' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unknown_cluster');
    expect(unknown.body.error.message).toContain('blue');
    expect(unknown.body.error.message).toContain('red, white');
    const badDefault = await call('PUT', `${ROUTES}/default`, { cluster: 'blue' });
    expect(badDefault.status).toBe(400);

    const malformed = await call('POST', ROUTES, { client: '>=1.x', cluster: 'white' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/client/);
    expect(malformed.body.error.message).toContain('>=1.x');
    const badName = await call('POST', ROUTES, { client: '>=1.2', cluster: 'White!' });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toMatch(/cluster/);

    const absent = await call('DELETE', `${ROUTES}?client=${encodeURIComponent('>=3.0')}`);
    expect(absent.status).toBe(404);
    expect(absent.body.error.message).toContain('no route for client ">=3.0"');

    expect(await storedRoutes()).toEqual(stored);
    expect(await appliedRoutes()).toEqual(stored);
    expect(await answeredBy('1.2')).toBe('white');
  });

  it('puts the stored table back when the load balancer cannot take the change, and says so', async () => {
    expect((await call('POST', ROUTES, { client: '>=1.1', cluster: 'white' })).status).toBe(200);
    const stored = await storedRoutes();
    await routed.haproxy.stop();
    try {
      const failed = await call('POST', ROUTES, { client: '<1.0', cluster: 'white' });
      expect([502, 504], JSON.stringify(failed.body)).toContain(failed.status);
      expect(failed.body.error.message).toContain('the routes were put back as they were');
      expect(await storedRoutes()).toEqual(stored);
    } finally {
      await routed.haproxy.start();
      await registerServers();
    }
    // HAProxy back on its files serves the table the coordinator kept, not the one refused.
    expect(await answeredBy('0.9')).toBe('red');
    expect(await answeredBy('1.1')).toBe('white');
    expect(await appliedRoutes()).toEqual(stored);
  });

  it('changes nothing when the relay refuses the coordinator’s credential', async () => {
    writeFileSync(routed.tokenFile, routed.tokens.deployer!, { mode: 0o600 });
    const refused = await call('POST', ROUTES, { client: '>=1.1', cluster: 'white' });
    expect(refused.status).toBe(502);
    expect(refused.body.error.code).toBe('lb_relay_refused');
    expect(refused.body.error.message).toContain('nothing was changed');
    expect(await routed.redis.exists(redisKeys.routes('web', 'production'))).toBe(0);
    expect(await answeredBy('1.1')).toBe('red');
  });

  it('answers 409 routing_unavailable, naming the setting, for a group without a frontend', async () => {
    const answer = await call('GET', '/v1/groups/web/staging/routes');
    expect(answer.status).toBe(409);
    expect(answer.body.error).toMatchObject({ code: 'routing_unavailable' });
    expect(answer.body.error.message).toContain('routing.web.staging.frontend');
  });

  it('lets a viewer read but not change routes', async () => {
    const viewer = await routed.coordinator.tokenOf('viewer');
    expect((await call('GET', ROUTES, undefined, viewer)).status).toBe(200);
    expect((await call('POST', ROUTES, { client: '>=1.1', cluster: 'white' }, viewer)).status).toBe(403);
    expect(await routed.redis.exists(redisKeys.routes('web', 'production'))).toBe(0);
  });
});

describe('retiring a cluster', () => {
  it('is refused while the default or a route points at it, then takes its servers out of the load balancer', async () => {
    const retire = () => call('POST', '/v1/groups/web/production/clusters/red/retire');
    const whileDefault = await retire();
    expect(whileDefault.status).toBe(409);
    expect(whileDefault.body.error.code).toBe('cluster_routed');
    expect(whileDefault.body.error.message).toContain('the default cluster');

    expect((await call('PUT', `${ROUTES}/default`, { cluster: 'white' })).status).toBe(200);
    expect((await call('POST', ROUTES, { client: '<1.1', cluster: 'red' })).status).toBe(200);
    const whileRouted = await retire();
    expect(whileRouted.status).toBe(409);
    expect(whileRouted.body.error.message).toContain('route <1.1');
    expect(await routed.redis.hlen(redisKeys.retiredClusters('web', 'production'))).toBe(0);
    expect((await routed.direct.servers(BACKENDS.red)).map((s) => s.state)).toEqual(['ready']);

    expect((await call('DELETE', `${ROUTES}?client=${encodeURIComponent('<1.1')}`)).status).toBe(200);
    const retired = await retire();
    expect(retired.status, JSON.stringify(retired.body)).toBe(200);
    expect(retired.body).toMatchObject({ cluster: 'red', backend: 'web.red', servers: 1 });
    expect((await routed.direct.servers(BACKENDS.red)).map((s) => s.state)).toEqual(['maint']);
    expect(await routed.redis.hexists(redisKeys.retiredClusters('web', 'production'), 'red')).toBe(1);
    expect(await answeredBy('1.0')).toBe('white');

    // No route may send requests to it now; the hosts read it as retired.
    const toRetired = await call('POST', ROUTES, { client: '<1.1', cluster: 'red' });
    expect(toRetired.status).toBe(409);
    expect(toRetired.body.error.code).toBe('cluster_retired');
    const asHost = await call('GET', '/v1/groups/web/production/clusters/retired', undefined, await routed.coordinator.hostToken('r1'));
    expect(asHost.status).toBe(200);
    expect(asHost.body.retired.map((r: { cluster: string }) => r.cluster)).toEqual(['red']);
    expect(routed.coordinator.published.some((e) => e.kind === 'cluster.retired' && e.cluster === 'red' && e.servers === 1)).toBe(true);

    // A deploy to the whole group leaves the retired cluster out; one to the cluster brings it back.
    await routed.coordinator.publish('web', 'v2');
    const group = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2' });
    expect(group.status, JSON.stringify(group.body)).toBe(201);
    expect(group.body.targets).toEqual(['w1']);
    expect(await routed.redis.hexists(redisKeys.retiredClusters('web', 'production'), 'red')).toBe(1);
    await routed.coordinator.succeedEverywhere(group.body);
    const back = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2', cluster: 'red' });
    expect(back.status, JSON.stringify(back.body)).toBe(201);
    expect(await routed.redis.hexists(redisKeys.retiredClusters('web', 'production'), 'red')).toBe(0);
  });

  it('is refused for a cluster the frontend does not have, and only to an operator', async () => {
    expect((await call('PUT', `${ROUTES}/default`, { cluster: 'white' })).status).toBe(200);
    const unknown = await call('POST', '/v1/groups/web/production/clusters/blue/retire');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unknown_cluster');
    const deployer = await routed.coordinator.tokenOf('deployer');
    expect((await call('POST', '/v1/groups/web/production/clusters/red/retire', undefined, deployer)).status).toBe(403);
    expect((await routed.direct.servers(BACKENDS.red)).map((s) => s.state)).toEqual(['ready']);
  });
});
