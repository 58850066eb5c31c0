import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { execa } from 'execa';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { HAProxyRuntimeApi } from '../../shared/haproxy/runtime-api.js';
import { haproxyConfig } from '../../shared/haproxy/haproxy-config.js';
import { UnreachableError, ValidationError } from '../../shared/contract/errors.js';
import { checkHAProxyConfig, startHAProxy, type HAProxyInstance } from '../fixtures/haproxy.js';
import { until } from '../fixtures/poll.js';
import { freePort } from '../fixtures/server-process.js';

const silent = pino({ level: 'silent' });

function api(haproxy: HAProxyInstance, options: { drainTimeoutMs?: number; logger?: typeof silent } = {}) {
  return new HAProxyRuntimeApi({
    address: `unix:${haproxy.runtimeSocket}`,
    drainTimeoutMs: options.drainTimeoutMs ?? 20_000,
    logger: options.logger ?? silent,
  });
}

/** An HTTP server that answers every request with its own name; `/slow` can be held open. */
interface Backend extends AsyncDisposable {
  name: string;
  address: string;
  holdSlow: boolean;
  /** Emits 'held' each time a `/slow` request is held. */
  events: EventEmitter;
  release(): void;
}

/** `port` 0 picks a free one; a given port lets a stopped backend come back at the same address. */
async function startBackend(name: string, host: string, port = 0): Promise<Backend> {
  const held: http.ServerResponse[] = [];
  const events = new EventEmitter();
  const server = http.createServer((request, response) => {
    response.setHeader('connection', 'close');
    if (request.url === '/slow' && backend.holdSlow) {
      held.push(response);
      events.emit('held');
      return;
    }
    response.end(name);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const listening = (server.address() as net.AddressInfo).port;
  const backend: Backend = {
    name,
    address: `${host}:${listening}`,
    holdSlow: false,
    events,
    release: () => held.splice(0).forEach((response) => response.end(name)),
    async [Symbol.asyncDispose]() {
      backend.release();
      server.closeAllConnections();
      // A backend a test already stopped answers close() with an error, which is fine here.
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return backend;
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: 30_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url}`)));
    request.on('error', reject);
  });
}

async function bodies(url: string, count: number): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < count; i++) answers.push((await get(url)).body);
  return answers;
}


/**
 * Sends `/slow` through the frontend until one request is held open by `target`; the answer
 * is wrapped so that awaiting this function does not also await the held request.
 */
async function holdRequestAt(url: string, target: Backend): Promise<{ answer: Promise<{ status: number; body: string }> }> {
  target.holdSlow = true;
  for (let attempt = 0; attempt < 10; attempt++) {
    const stop = new AbortController();
    const response = get(`${url}/slow`);
    const heldAtTarget = once(target.events, 'held', { signal: stop.signal }).then(() => true, () => false);
    const outcome = await Promise.race([heldAtTarget, response.then(() => false)]);
    stop.abort();
    if (outcome) return { answer: response };
  }
  throw new Error(`no /slow request reached ${target.name} in 10 attempts`);
}

async function stateOf(lb: HAProxyRuntimeApi, backend: string, server: string) {
  return (await lb.servers(backend)).find((s) => s.name === server);
}

/** Polls until HAProxy's checks find `server` DOWN (operational state 0, stopped). */
async function untilCheckedDown(haproxy: HAProxyInstance, backend: string, server: string): Promise<void> {
  const down = async () => ((await rawState(haproxy, backend)).find((row) => row.srv_name === server)?.srv_op_state === '0' ? true : undefined);
  await until(`${backend}/${server} to be marked DOWN by its checks`, down, { timeoutMs: 10_000, intervalMs: 100 });
}

/** `show servers state` as an operator reads it: one row per server, keyed by column. */
async function rawState(haproxy: HAProxyInstance, backend: string): Promise<Array<Record<string, string>>> {
  const reply = await execa('socat', ['-t', '2', '-', `UNIX-CONNECT:${haproxy.runtimeSocket}`], { input: `show servers state ${backend}\n` });
  const [header, ...rows] = reply.stdout.split('\n').slice(1).filter((line) => line.trim() !== '');
  const columns = (header ?? '').replace(/^#\s*/, '').split(' ');
  return rows.map((row) => Object.fromEntries(row.split(' ').map((cell, i) => [columns[i] ?? '', cell])));
}

describe('HAProxyRuntimeApi against a real HAProxy', () => {
  it('the generated config passes haproxy -c and refuses unsafe names', async () => {
    const config = haproxyConfig({
      frontendBind: '127.0.0.1:8080',
      backends: ['web', 'api', 'worker.v2'],
      runtimeSocket: '/run/gvtest-haproxy/admin.sock',
      pidFile: '/run/gvtest-haproxy/haproxy.pid',
    });
    const check = await checkHAProxyConfig(config);
    expect(check.exitCode, check.output).toBe(0);
    expect(config).not.toMatch(/^\s*server /m);
    const base = { frontendBind: '127.0.0.1:8080', backends: ['web'], runtimeSocket: '/tmp/gvtest.sock' };
    expect(() => haproxyConfig({ ...base, backends: ['web\nlisten evil'] })).toThrow(ValidationError);
    expect(() => haproxyConfig({ ...base, backends: [] })).toThrow(ValidationError);
    expect(() => haproxyConfig({ ...base, frontendBind: '0.0.0.0:80 ssl' })).toThrow(ValidationError);
    expect(() => haproxyConfig({ ...base, runtimeSocket: 'relative.sock' })).toThrow(ValidationError);
  });

  it('registers servers that then share the traffic and are listed ready', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    await using a = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    const lb = api(haproxy);

    expect((await get(haproxy.url)).status).toBe(503);
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address);

    expect(new Set(await bodies(haproxy.url, 6))).toEqual(new Set(['a', 'b']));
    expect(await lb.servers('web')).toEqual([
      { name: 'a', address: a.address, state: 'ready' },
      { name: 'b', address: b.address, state: 'ready' },
    ]);
  });

  it('drains: the in-flight request completes, new requests go elsewhere, then the server is in maintenance', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    await using a = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    const lb = api(haproxy, { drainTimeoutMs: 30_000 });
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address);

    const { answer: inFlight } = await holdRequestAt(haproxy.url, a);
    let drained = false;
    const draining = lb.drain('web', 'a').then(() => (drained = true));
    await until('a to drain', async () => ((await stateOf(lb, 'web', 'a'))?.state === 'drain' ? true : undefined), { intervalMs: 50 });

    expect(await bodies(haproxy.url, 6)).toEqual(['b', 'b', 'b', 'b', 'b', 'b']);
    expect(drained).toBe(false);

    a.release();
    expect(await inFlight).toEqual({ status: 200, body: 'a' });
    await draining;
    expect(await stateOf(lb, 'web', 'a')).toEqual({ name: 'a', address: a.address, state: 'maint' });
    expect(await bodies(haproxy.url, 4)).toEqual(['b', 'b', 'b', 'b']);
  });

  it('goes to maintenance at the drain timeout with sessions still open, warning once', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    await using a = await startBackend('a', '127.0.0.2');
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const lb = api(haproxy, { drainTimeoutMs: 300, logger });
    await lb.register('web', 'a', a.address);

    const { answer: inFlight } = await holdRequestAt(haproxy.url, a);
    await lb.drain('web', 'a');

    expect((await stateOf(lb, 'web', 'a'))?.state).toBe('maint');
    const warnings = lines.map((line) => JSON.parse(line) as { level: number; server?: string }).filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.server).toBe('a');
    // Maintenance stops new traffic only; the open request still gets its answer.
    a.release();
    expect(await inFlight).toEqual({ status: 200, body: 'a' });
  });

  it('re-registering a drained server puts it back in rotation', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    await using a = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    const lb = api(haproxy);
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address);
    await lb.drain('web', 'a');
    expect(await bodies(haproxy.url, 4)).toEqual(['b', 'b', 'b', 'b']);

    await lb.register('web', 'a', a.address);

    expect((await stateOf(lb, 'web', 'a'))?.state).toBe('ready');
    expect(new Set(await bodies(haproxy.url, 6))).toEqual(new Set(['a', 'b']));
  });

  it('registering with a changed address sends the traffic to the new address', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    await using before = await startBackend('a-before', '127.0.0.2');
    await using after = await startBackend('a-after', '127.0.0.4');
    const lb = api(haproxy);
    await lb.register('web', 'a', before.address);
    expect(await bodies(haproxy.url, 2)).toEqual(['a-before', 'a-before']);

    await lb.register('web', 'a', after.address);

    expect(await lb.servers('web')).toEqual([{ name: 'a', address: after.address, state: 'ready' }]);
    expect(await bodies(haproxy.url, 4)).toEqual(['a-after', 'a-after', 'a-after', 'a-after']);
  });

  it('draining a server that is not registered does nothing', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    await using b = await startBackend('b', '127.0.0.3');
    const lb = api(haproxy);
    await lb.register('web', 'b', b.address);

    await lb.drain('web', 'ghost');

    expect(await lb.servers('web')).toEqual([{ name: 'b', address: b.address, state: 'ready' }]);
    expect(await bodies(haproxy.url, 2)).toEqual(['b', 'b']);
  });

  it('rejects bad names and addresses before sending anything', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    const lb = api(haproxy);
    // Pointed at nothing: any command sent would fail as unreachable, not as invalid.
    const nowhere = new HAProxyRuntimeApi({ address: 'unix:/nonexistent/gvtest-haproxy.sock', drainTimeoutMs: 1_000, logger: silent });
    const badCalls: Array<[string, string, string]> = [
      ['web', 'a b', '127.0.0.2:8080'],
      ['web', 'a;shutdown sessions', '127.0.0.2:8080'],
      ['web;show info', 'a', '127.0.0.2:8080'],
      ['web', 'a/b', '127.0.0.2:8080'],
      ['web', '', '127.0.0.2:8080'],
      ['web', 'a', '127.0.0.2'],
      ['web', 'a', 'localhost:8080'],
      ['web', 'a', '127.0.0.2:0'],
      ['web', 'a', '127.0.0.2:65536'],
      ['web', 'a', '127.0.0.2:80 weight 0'],
      ['web', 'a', '127.0.0.2:80;set server web/b state maint'],
      ['web', 'a', '::1:8080'],
    ];
    for (const client of [nowhere, lb]) {
      for (const [backend, server, address] of badCalls) {
        await expect(client.register(backend, server, address), `${backend} ${server} ${address}`).rejects.toBeInstanceOf(ValidationError);
      }
      await expect(client.drain('web', 'a\nshow info')).rejects.toBeInstanceOf(ValidationError);
      await expect(client.servers('web show')).rejects.toBeInstanceOf(ValidationError);
    }
    expect(await lb.servers('web')).toEqual([]);
  });

  it('reports HAProxy refusals with the command and its text', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    const lb = api(haproxy);

    await expect(lb.servers('missing')).rejects.toMatchObject({
      code: 'lb_command_failed',
      message: expect.stringMatching(/show servers state missing.*backend/i),
    });
    await expect(lb.register('missing', 'a', '127.0.0.2:8080')).rejects.toMatchObject({ code: 'lb_command_failed' });
  });

  it('an unreachable runtime API gives UnreachableError naming the address', async () => {
    const address = 'unix:/nonexistent/gvtest-haproxy.sock';
    const lb = new HAProxyRuntimeApi({ address, drainTimeoutMs: 1_000, logger: silent, commandTimeoutMs: 1_000 });
    await expect(lb.servers('web')).rejects.toBeInstanceOf(UnreachableError);
    await expect(lb.register('web', 'a', '127.0.0.2:8080')).rejects.toThrow(address);

    const closedPort = await freePort();
    const tcp = new HAProxyRuntimeApi({ address: `tcp:127.0.0.1:${closedPort}`, drainTimeoutMs: 1_000, logger: silent });
    await expect(tcp.drain('web', 'a')).rejects.toBeInstanceOf(UnreachableError);
  });

  it('a server that stops listening is marked DOWN by its checks, listed not ready, and every request is answered by the other', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    await using a = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    const lb = api(haproxy);
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address);
    expect(new Set(await bodies(haproxy.url, 6))).toEqual(new Set(['a', 'b']));

    await a[Symbol.asyncDispose]();
    // No request in between: the checks alone take it out.
    await untilCheckedDown(haproxy, 'web', 'a');

    expect(await lb.servers('web')).toEqual([
      { name: 'a', address: a.address, state: 'maint' },
      { name: 'b', address: b.address, state: 'ready' },
    ]);
    expect(await bodies(haproxy.url, 6)).toEqual(['b', 'b', 'b', 'b', 'b', 'b']);
  });

  it('requests sent the moment a server dies are retried on the other and all answered', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    await using a = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    const lb = api(haproxy);
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address);

    await a[Symbol.asyncDispose]();
    // Before any check has run again, half of these would be balanced to a.
    const answers = await Promise.all(Array.from({ length: 8 }, () => get(haproxy.url)));

    expect(answers).toEqual(Array.from({ length: 8 }, () => ({ status: 200, body: 'b' })));
    // The failed connections themselves marked it DOWN (observe layer4), or its checks did meanwhile.
    expect((await stateOf(lb, 'web', 'a'))?.state).toBe('maint');
  });

  it.each(['ready', 'drain'] as const)('a server registered again after its checks failed (held %s) serves at once', async (held) => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    // Stopped by the test; disposing it again at the end is harmless.
    await using first = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    const lb = api(haproxy);
    await lb.register('web', 'a', first.address);
    await lb.register('web', 'b', b.address);
    if (held === 'drain') await execa('socat', ['-t', '2', '-', `UNIX-CONNECT:${haproxy.runtimeSocket}`], { input: 'set server web/a state drain\n' });
    await first[Symbol.asyncDispose]();
    await untilCheckedDown(haproxy, 'web', 'a');
    // Its container replaced: the new one listens at the same address.
    await using a = await startBackend('a', '127.0.0.2', Number(first.address.split(':')[1]));

    await lb.register('web', 'a', a.address);

    // Without waiting for two good checks (rise 2): listed ready and answering right away.
    expect((await stateOf(lb, 'web', 'a'))?.state).toBe('ready');
    expect(new Set(await bodies(haproxy.url, 6))).toEqual(new Set(['a', 'b']));
  });

  it('draining a server its checks found DOWN still puts it in maintenance, where its checks cannot bring it back', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    // Stopped by the test; disposing it again at the end is harmless.
    await using first = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    const lb = api(haproxy);
    await lb.register('web', 'a', first.address);
    await lb.register('web', 'b', b.address);
    await first[Symbol.asyncDispose]();
    await untilCheckedDown(haproxy, 'web', 'a');

    await lb.drain('web', 'a');
    await using a = await startBackend('a', '127.0.0.2', Number(first.address.split(':')[1]));

    // Forced maintenance (admin state bit 0x01); its checks are paused there.
    expect((await rawState(haproxy, 'web')).find((row) => row.srv_name === 'a')?.srv_admin_state).toBe('1');
    expect(await bodies(haproxy.url, 4)).toEqual(['b', 'b', 'b', 'b']);
    await lb.register('web', 'a', a.address);
    expect(new Set(await bodies(haproxy.url, 6))).toEqual(new Set(['a', 'b']));
  });

  it('hosts registering at the same time all end up ready', async () => {
    await using haproxy = await startHAProxy({ backends: ['web'] });
    const backends = await Promise.all([2, 3, 4, 5, 6, 7].map((n) => startBackend(`host-${n}`, `127.0.0.${n}`)));
    try {
      // One client per host, as on a real fleet; two of them race to register the same name too.
      await Promise.all([
        ...backends.map((b) => api(haproxy).register('web', b.name, b.address)),
        api(haproxy).register('web', backends[0]!.name, backends[0]!.address),
      ]);

      const listed = await api(haproxy).servers('web');
      expect(listed.sort((x, y) => x.name.localeCompare(y.name))).toEqual(
        backends.map((b) => ({ name: b.name, address: b.address, state: 'ready' })),
      );
      expect(new Set(await bodies(haproxy.url, 12))).toEqual(new Set(backends.map((b) => b.name)));
    } finally {
      await Promise.all(backends.map((b) => b[Symbol.asyncDispose]()));
    }
  });
});
