// Deploys to one cluster of a role and the usage of each cluster, with the coordinator's routes
// applied by a real relay to a real HAProxy, over a real Redis (test/fixtures/routed-coordinator.ts):
// a cluster's deploy targets its hosts alone with k of them, a host of another cluster does not
// catch up to it, and usage counts each cluster's requests from HAProxy's own log.
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { ROUTES, routedCoordinator } from '../fixtures/routed-coordinator.js';
import { until } from '../fixtures/poll.js';

const routed = routedCoordinator();
const { call, answeredBy } = routed;

describe('deploying one cluster', () => {
  it('targets the cluster’s hosts with k of them, and a red host does not catch up to white’s release', async () => {
    await routed.coordinator.publish('web', 'v1');
    await routed.coordinator.publish('web', 'v2');
    const all = await routed.coordinator.deploy('web', 'production', 'v1');
    expect(all.targets).toEqual(['r1', 'r2', 'w1']);
    await routed.coordinator.succeedEverywhere(all);

    const white = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2', cluster: 'white' });
    expect(white.status, JSON.stringify(white.body)).toBe(201);
    expect(white.body).toMatchObject({ cluster: 'white', targets: ['w1'], slots: 1 });
    await routed.coordinator.succeedEverywhere(white.body);
    const read = await routed.coordinator.getDeploy(white.body.id);
    expect(read.cluster).toBe('white');

    // r1 runs v1, red's release: nothing to catch up to (white's v2, the group's newest rollout, is not red's).
    // A host without a cluster tag goes by the whole group's rollouts alone.
    const v1 = all.image;
    const red = await call('POST', '/v1/catch-ups', { role: 'web', env: 'production', host: 'r1', image: v1, cluster: 'red' });
    expect(red.status, JSON.stringify(red.body)).toBe(204);
    const untagged = await call('POST', '/v1/catch-ups', { role: 'web', env: 'production', host: 'r1', image: v1 });
    expect(untagged.status, JSON.stringify(untagged.body)).toBe(204);
    const whiteHost = await call('POST', '/v1/catch-ups', { role: 'web', env: 'production', host: 'w1', image: v1, cluster: 'white' });
    expect(whiteHost.status, JSON.stringify(whiteHost.body)).toBe(201);
    expect(whiteHost.body).toMatchObject({ tag: 'v2', cluster: 'white', targets: ['w1'] });
  });

  it('answers 409 no_hosts naming a cluster without hosts, and 400 for a malformed cluster name', async () => {
    await routed.coordinator.publish('web', 'v1');
    const none = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1', cluster: 'blue' });
    expect(none.status).toBe(409);
    expect(none.body.error.code).toBe('no_hosts');
    expect(none.body.error.message).toContain('cluster blue');
    const bad = await call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1', cluster: 'Blue!' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/cluster/);
    expect(await routed.redis.zcard(redisKeys.deploys())).toBe(0);
  });
});

describe('route usage', () => {
  it('counts each cluster’s requests over the window from HAProxy’s own log', async () => {
    expect((await call('POST', ROUTES, { client: '>=1.1', cluster: 'white' })).status).toBe(200);
    const start = await call('GET', `${ROUTES}/usage?windowMs=60000`);
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const base = Object.fromEntries(start.body.clusters.map((c: { cluster: string; requests: number }) => [c.cluster, c.requests]));
    for (let i = 0; i < 7; i += 1) expect(await answeredBy('1.0')).toBe('red');
    for (let i = 0; i < 4; i += 1) expect(await answeredBy('1.1')).toBe('white');
    const usage = await until('the relay to count the requests', async () => {
      const answer = await call('GET', `${ROUTES}/usage?windowMs=60000`);
      const counts = Object.fromEntries(answer.body.clusters.map((c: { cluster: string; requests: number }) => [c.cluster, c.requests - (base[c.cluster] ?? 0)]));
      return counts.red === 7 && counts.white === 4 ? answer.body : undefined;
    });
    expect(usage).toMatchObject({ role: 'web', env: 'production', clusters: [{ cluster: 'red', backend: 'web.red', retired: false }, { cluster: 'white', backend: 'web.white' }] });
    expect(usage.to - usage.from).toBe(60_000);

    const tooLong = await call('GET', `${ROUTES}/usage?windowMs=120000`);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain('60000');
    const malformed = await call('GET', `${ROUTES}/usage?windowMs=soon`);
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toContain('windowMs');
  });
});
