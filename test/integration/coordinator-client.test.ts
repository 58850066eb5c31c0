// The coordinator client against a real HTTP server that closes kept-alive connections
// the way a server does when they sit idle past its keep-alive timeout.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { UnreachableError } from '../../shared/contract/errors.js';

const deploy = {
  id: 'd-client01', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2',
  status: 'in_progress', createdAt: 1, hosts: {},
};

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** Answers every request with the deploy; `resetSecondRequestOf` decides which connections get reset when asked a second time. */
async function start(resetSecondRequestOf: (connection: number) => boolean) {
  const seen = { connections: 0, requests: 0, resets: 0 };
  const perSocket = new WeakMap<Socket, { connection: number; requests: number }>();
  server = createServer((req, res) => {
    const socket = req.socket;
    let entry = perSocket.get(socket);
    if (!entry) {
      seen.connections += 1;
      entry = { connection: seen.connections, requests: 0 };
      perSocket.set(socket, entry);
    }
    entry.requests += 1;
    if (entry.requests > 1 && resetSecondRequestOf(entry.connection)) {
      // What the client sees when the server dropped the idle connection just as it was reused.
      seen.resets += 1;
      socket.resetAndDestroy();
      return;
    }
    seen.requests += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(deploy));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { client: new CoordinatorClient({ url: `http://127.0.0.1:${port}`, token: 'test-token' }), seen };
}

describe('coordinator client', () => {
  it('sends a request again on a new connection when the kept-alive one was closed under it', async () => {
    const { client, seen } = await start((connection) => connection === 1);
    expect((await client.getDeploy('d-client01')).id).toBe('d-client01');
    expect((await client.getDeploy('d-client01')).id).toBe('d-client01');
    expect(seen).toEqual({ connections: 2, requests: 2, resets: 1 });
  });

  it('does not send again what failed on a new connection: the coordinator may have taken it', async () => {
    const { client, seen } = await start(() => false);
    server!.removeAllListeners('request');
    server!.on('request', (req) => {
      seen.resets += 1;
      req.socket.resetAndDestroy();
    });
    const failure = await client.createDeploy({ role: 'web', env: 'production', tag: 'v2' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnreachableError);
    expect((failure as Error).message).toMatch(/coordinator at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    expect(seen.resets).toBe(1);
  });
});
