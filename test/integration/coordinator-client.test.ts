// The coordinator client (and the load balancer relay's) against a real HTTP server that closes kept-alive connections
// the way a server does when they sit idle past its keep-alive timeout.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { UnreachableError } from '../../shared/contract/errors.js';
import { HAProxyRelayClient } from '../../shared/haproxy/relay-client.js';
import { startResettingServer, type ResettingServer } from '../fixtures/resetting-server.js';

const deploy = {
  id: 'd-client01', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2',
  status: 'in_progress', createdAt: 1, hosts: {},
};

let server: ResettingServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Answers every request with the deploy; `resetSecondRequestOf` decides which connections get reset when asked a second time. */
async function start(resetSecondRequestOf: (connection: number) => boolean) {
  server = await startResettingServer(deploy, resetSecondRequestOf);
  return { client: new CoordinatorClient({ url: server.url, token: 'test-token' }), seen: server.seen };
}

describe('coordinator client', () => {
  it('sends a request again on a new connection when the kept-alive one was closed under it', async () => {
    const { client, seen } = await start((connection) => connection === 1);
    expect((await client.getDeploy('d-client01')).id).toBe('d-client01');
    expect((await client.getDeploy('d-client01')).id).toBe('d-client01');
    expect(seen).toEqual({ connections: 2, requests: 2, resets: 1 });
  });

  it('keeps one connection between requests, and close() ends it: the next request opens another', async () => {
    const { client, seen } = await start(() => false);
    await client.getDeploy('d-client01');
    await client.getDeploy('d-client01');
    expect(seen.connections).toBe(1);
    client.close();
    await client.getDeploy('d-client01');
    expect(seen).toEqual({ connections: 2, requests: 3, resets: 0 });
  });

  it('does not send again what failed on a new connection: the coordinator may have taken it', async () => {
    const { client, seen } = await start(() => false);
    server!.server.removeAllListeners('request');
    server!.server.on('request', (req) => {
      seen.resets += 1;
      req.socket.resetAndDestroy();
    });
    const failure = await client.createDeploy({ role: 'web', env: 'production', tag: 'v2' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnreachableError);
    expect((failure as Error).message).toMatch(/coordinator at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    expect(seen.resets).toBe(1);
  });
});

describe('load balancer relay client', () => {
  it('drains again at once on a new connection when the kept-alive one was closed under it', async () => {
    server = await startResettingServer({ ok: true }, (connection) => connection === 1);
    const relay = new HAProxyRelayClient({ url: server.url, token: 'test-token', logger: pino({ level: 'silent' }) });
    await relay.drain('web', 'h1');
    await relay.drain('web', 'h1');
    expect(server.seen).toEqual({ connections: 2, requests: 2, resets: 1 });
  });
});
