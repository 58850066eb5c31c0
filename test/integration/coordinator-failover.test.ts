// The client given several coordinators' URLs (shared/coordinator-http/coordinator-transport.ts)
// against real HTTP servers on loopback: a dead URL first, a coordinator that never answers, an
// error answer (never tried elsewhere), none answering, and a POST tried twice with one key.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { GrapevineError, UnreachableError } from '../../shared/contract/errors.js';
import { freePort } from '../fixtures/server-process.js';

const deploy = { id: 'd-failover1', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2', status: 'in_progress', createdAt: 1, hosts: {} };

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

type Handler = (req: IncomingMessage, answer: (status: number, body: unknown) => void) => void;

/** A coordinator stand-in on loopback; `seen` lists each request's method, path and idempotency key. */
async function coordinator(handle: Handler = (_req, answer) => answer(200, deploy)) {
  const seen: Array<{ method: string; path: string; key: string | undefined }> = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', key: req.headers['idempotency-key'] as string | undefined });
    req.resume();
    req.on('end', () => handle(req, (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, seen, server };
}

/** A loopback URL nothing listens on: connections are refused. */
const deadUrl = async () => `http://127.0.0.1:${await freePort()}`;

describe('a client given several coordinators', () => {
  it('skips a dead coordinator listed first, and keeps asking the one that answered', async () => {
    const dead = await deadUrl();
    const alive = await coordinator();
    const client = new CoordinatorClient({ url: `${dead},${alive.url}`, token: 'test-token' });
    expect(client.url).toBe(dead);
    expect((await client.getDeploy('d-failover1')).id).toBe('d-failover1');
    expect(client.url).toBe(alive.url);
    await client.getDeploy('d-failover1');
    expect(alive.seen).toHaveLength(2);
  });

  it('goes on to the next when one accepts but does not answer within the timeout; bounded by it', async () => {
    const silent = await coordinator(() => undefined);
    const alive = await coordinator();
    const client = new CoordinatorClient({ url: [silent.url, alive.url], token: 'test-token', timeoutMs: 300 });
    const started = Date.now();
    expect((await client.getDeploy('d-failover1')).id).toBe('d-failover1');
    const took = Date.now() - started;
    console.log(`answered by the second coordinator ${took} ms after a first that did not answer (timeout 300 ms)`);
    expect(silent.seen).toHaveLength(1);
    expect(took).toBeGreaterThanOrEqual(300);
  });

  it('never tries another coordinator on an answer, even a 503: that coordinator took the request', async () => {
    const failing = await coordinator((_req, answer) => answer(503, { error: { code: 'unreachable', message: "the coordinator's redis does not answer" } }));
    const alive = await coordinator();
    const client = new CoordinatorClient({ url: [failing.url, alive.url], token: 'test-token' });
    await expect(client.getDeploy('d-failover1')).rejects.toThrow(UnreachableError);
    expect(alive.seen).toHaveLength(0);
    const refusing = await coordinator((_req, answer) => answer(400, { error: { code: 'invalid_input', message: 'tag: is required' } }));
    const second = new CoordinatorClient({ url: [refusing.url, alive.url], token: 'test-token' });
    await expect(second.createDeploy({ role: 'web', env: 'production' })).rejects.toThrow(/tag: is required/);
    expect(alive.seen).toHaveLength(0);
  });

  it('says which coordinators it tried when none answers, each once', async () => {
    const [first, second] = [await deadUrl(), await deadUrl()];
    const client = new CoordinatorClient({ url: [first, second], token: 'test-token' });
    const failure = await client.getDeploy('d-failover1').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(UnreachableError);
    expect((failure as GrapevineError).message).toMatch(new RegExp(`no coordinator answered: coordinator at ${first} is unreachable .*; coordinator at ${second} is unreachable`));
  });

  it('a POST cut off at the first coordinator reaches the next with the same idempotency key', async () => {
    // The first reads the whole request, then its connection is reset: it may have acted on it.
    const dying = await coordinator((req) => req.socket.resetAndDestroy());
    const alive = await coordinator((_req, answer) => answer(201, deploy));
    const client = new CoordinatorClient({ url: [dying.url, alive.url], token: 'test-token' });
    expect((await client.createDeploy({ role: 'web', env: 'production', tag: 'v2' })).id).toBe('d-failover1');
    expect(dying.seen).toHaveLength(1);
    expect(alive.seen).toHaveLength(1);
    expect(alive.seen[0]!.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(alive.seen[0]!.key).toBe(dying.seen[0]!.key);
    // A new call is a new key.
    await client.createDeploy({ role: 'web', env: 'production', tag: 'v2' });
    expect(alive.seen[1]!.key).not.toBe(alive.seen[0]!.key);
  });

  it('refuses a list with a URL that is not http(s), naming it', () => {
    expect(() => new CoordinatorClient({ url: 'http://127.0.0.1:7700,ftp://127.0.0.1:21', token: 'test-token' })).toThrow(/coordinator URL ftp:\/\/127.0.0.1:21 must start with http:\/\/ or https:\/\//);
  });
});
