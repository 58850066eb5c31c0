// Routes survive an HAProxy reload (`systemctl reload haproxy`, `dev chaos reload-haproxy`):
// the new worker reads the ACL and map files the relay wrote, so every request is answered by
// the cluster the table names before, during and after the reload, and the relay changes the
// new worker's tables as it did the old one's. A real master-worker HAProxy.
import http from 'node:http';
import type net from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FrontendRouter } from '../../lb-relay/routing.js';
import { RoutingRuntime } from '../../shared/haproxy/route-runtime.js';
import { routingFiles } from '../../shared/haproxy/routed-frontend.js';
import { HAProxyRuntimeApi } from '../../shared/haproxy/runtime-api.js';
import { startReloadableHAProxy } from '../fixtures/reloadable-haproxy.js';

const silent = pino({ level: 'silent' });
const CLUSTERS = { red: 'web.red', white: 'web.white' };
/** Bounded: a reload that takes longer than 30 s has failed anyway. */
const MAX_REQUESTS = 3_000;

async function startApp(name: string): Promise<AsyncDisposable & { address: string }> {
  const server = http.createServer((_request, response) => response.end(name));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function ask(url: string, version: string): Promise<string> {
  return new Promise((resolve) => {
    const request = http.get(url, { headers: { 'X-Client-Version': version }, agent: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 200 ? body : `status ${response.statusCode}`));
      response.on('error', (error) => resolve(`error ${error.message}`));
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 5 s')));
    request.on('error', (error) => resolve(`error ${error.message}`));
  });
}

describe('routes across an HAProxy reload', () => {
  it('answers 1.0 from red and 1.1 from white before, during and after the reload, and a change after it applies to the new worker', async () => {
    await using haproxy = await startReloadableHAProxy(Object.values(CLUSTERS), [{ name: 'web', clusters: Object.entries(CLUSTERS).map(([cluster, backend]) => ({ cluster, backend })) }]);
    await using red = await startApp('red');
    await using white = await startApp('white');
    const lb = new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 1_000, logger: silent });
    await lb.register(CLUSTERS.red, 'r1', red.address);
    await lb.register(CLUSTERS.white, 'w1', white.address);
    const runtime = new RoutingRuntime({ address: `unix:${haproxy.runtimeSocket}`, logger: silent });
    const router = new FrontendRouter({ config: { dir: haproxy.dir, frontends: { web: { clusters: CLUSTERS } } }, runtime, logger: silent });
    await router.setRoutes('web', { routes: [{ client: '>=1.1', cluster: 'white' }], defaultCluster: 'red' }, 'test');
    const url = haproxy.routedUrls.web!;
    const held = await runtime.entries(routingFiles.cluster('web', 'white'), 'acl');
    const workerBefore = await haproxy.workerPid();

    const answers: Array<{ version: string; answer: string }> = [];
    let reloading = true;
    const asking = (async () => {
      for (let i = 0; i < MAX_REQUESTS && reloading; i++) {
        const version = i % 2 === 0 ? '1.0' : '1.1';
        answers.push({ version, answer: await ask(url, version) });
      }
    })();
    try {
      await haproxy.reload();
    } finally {
      reloading = false;
      await asking;
    }

    expect(await haproxy.workerPid()).not.toBe(workerBefore);
    console.info(`routes across a reload: ${answers.length} requests during it, ${answers.filter((a) => a.answer !== (a.version === '1.0' ? 'red' : 'white')).length} not answered by their cluster`);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.answer !== (a.version === '1.0' ? 'red' : 'white'))).toEqual([]);
    expect(await runtime.entries(routingFiles.cluster('web', 'white'), 'acl')).toEqual(held);
    expect([await ask(url, '1.0'), await ask(url, '1.1')]).toEqual(['red', 'white']);

    await router.setRoutes('web', { routes: [], defaultCluster: 'white' }, 'test');
    expect([await ask(url, '1.0'), await ask(url, '1.1'), await ask(url, 'none')]).toEqual(['white', 'white', 'white']);
  });
});
