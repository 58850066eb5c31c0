// Registrations survive an HAProxy reload: servers added through the runtime API, saved by
// provisioning/haproxy/save-servers.sh (as the systemd drop-in and `dev chaos reload-haproxy`
// run it) before a master-worker reload, are served by the new worker with their addresses
// and states, and no request fails across the reload. A real HAProxy in the run's container.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import type net from 'node:net';
import { execa } from 'execa';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { pause } from '../../shared/contract/waiting.js';
import { HAProxyRuntimeApi } from '../../shared/haproxy/runtime-api.js';
import { SERVER_CHECK_OPTIONS } from '../../shared/haproxy/server-checks.js';
import { until } from '../fixtures/poll.js';
import { SAVE_SERVERS, startReloadableHAProxy } from '../fixtures/reloadable-haproxy.js';

const REQUEST_EVERY_MS = 20;

async function startBackend(name: string, host: string): Promise<AsyncDisposable & { address: string }> {
  const server = http.createServer((_request, response) => {
    response.setHeader('connection', 'close');
    response.end(name);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `${host}:${port}`,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', (error) => resolve({ status: 0, body: error.message }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url}`)));
    request.on('error', (error) => resolve({ status: 0, body: error.message }));
  });
}

/** Requests every 20 ms while `during` runs; what each got. */
async function askedThroughout(url: string, during: () => Promise<void>): Promise<Array<{ status: number; body: string }>> {
  const answers: Array<Promise<{ status: number; body: string }>> = [];
  let done = false;
  const asking = (async () => {
    // Bounded: a reload that takes longer than 30 s has failed anyway.
    for (let i = 0; i < 30_000 / REQUEST_EVERY_MS && !done; i++) {
      answers.push(get(url));
      await pause(REQUEST_EVERY_MS);
    }
  })();
  try {
    await during();
  } finally {
    done = true;
    await asking;
  }
  return Promise.all(answers);
}

async function bodies(url: string, count: number): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < count; i++) answers.push((await get(url)).body);
  return answers;
}

const byName = (servers: Array<{ name: string }>) => [...servers].sort((x, y) => x.name.localeCompare(y.name));

describe('HAProxy reload keeps the registered servers', () => {
  it('servers registered, moved, drained and in maintenance keep their addresses and states, and no request fails', async () => {
    await using haproxy = await startReloadableHAProxy(['web', 'api']);
    await using aFirst = await startBackend('a-first', '127.0.0.2');
    await using a = await startBackend('a', '127.0.0.4');
    await using b = await startBackend('b', '127.0.0.3');
    await using c = await startBackend('c', '127.0.0.5');
    const lb = new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 2_000, logger: pino({ level: 'silent' }) });
    await lb.register('web', 'a', aFirst.address);
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address);
    await lb.register('web', 'c', c.address);
    // b drained by its agent (drain ends in maintenance); c held in drain by an operator.
    await lb.drain('web', 'b');
    await execa('socat', ['-t', '2', '-', `UNIX-CONNECT:${haproxy.runtimeSocket}`], { input: 'set server web/c state drain\n' });
    const registered = [
      { name: 'a', address: a.address, state: 'ready' },
      { name: 'b', address: b.address, state: 'maint' },
      { name: 'c', address: c.address, state: 'drain' },
    ];
    expect(byName(await lb.servers('web'))).toEqual(registered);
    const workerBefore = await haproxy.workerPid();

    const answers = await askedThroughout(haproxy.url, () => haproxy.reload());

    expect(await haproxy.workerPid()).not.toBe(workerBefore);
    expect(byName(await lb.servers('web'))).toEqual(registered);
    expect(await lb.servers('api')).toEqual([]);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(new Set(answers.map((answer) => answer.body))).toEqual(new Set(['a']));
    expect(new Set(await bodies(haproxy.url, 6))).toEqual(new Set(['a']));
  });

  it('after a reload, servers still register, drain and come back, and a second reload keeps the new ones too', async () => {
    await using haproxy = await startReloadableHAProxy(['web']);
    await using a = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    await using d = await startBackend('d', '127.0.0.6');
    const lb = new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 2_000, logger: pino({ level: 'silent' }) });
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address);
    await lb.drain('web', 'b');
    await haproxy.reload();

    // The saved servers are now the config's; the agent's calls work on them as before.
    await lb.register('web', 'b', b.address);
    await lb.register('web', 'd', d.address);
    await lb.drain('web', 'a');
    expect(new Set(await bodies(haproxy.url, 6))).toEqual(new Set(['b', 'd']));
    const answers = await askedThroughout(haproxy.url, () => haproxy.reload());

    expect(byName(await lb.servers('web'))).toEqual([
      { name: 'a', address: a.address, state: 'maint' },
      { name: 'b', address: b.address, state: 'ready' },
      { name: 'd', address: d.address, state: 'ready' },
    ]);
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(new Set(await bodies(haproxy.url, 6))).toEqual(new Set(['b', 'd']));
    // One marked block per backend, however many reloads wrote it.
    expect((await readFile(haproxy.config, 'utf8')).match(/^\s*server /gm)).toHaveLength(3);
  });

  it('the reloaded worker keeps every server\'s checks, and gives them to one registered without', async () => {
    await using haproxy = await startReloadableHAProxy(['web']);
    // a and c are stopped by the test; disposing them again at the end is harmless.
    await using a = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    await using c = await startBackend('c', '127.0.0.4');
    const lb = new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 2_000, logger: pino({ level: 'silent' }) });
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address);
    // As a server added before registrations carried checks was.
    const raw = (command: string) => execa('socat', ['-t', '2', '-', `UNIX-CONNECT:${haproxy.runtimeSocket}`], { input: `${command}\n` });
    await raw(`add server web/c ${c.address}`);
    await raw('set server web/c state ready');

    await haproxy.reload();

    const lines = (await readFile(haproxy.config, 'utf8')).split('\n').filter((line) => /^\s*server /.test(line)).map((line) => line.trim());
    const saved = { a, b, c };
    expect(lines.sort()).toEqual(Object.entries(saved).map(([name, backend]) => `server ${name} ${backend.address} ${SERVER_CHECK_OPTIONS}`));
    const states = async () => Object.fromEntries((await lb.servers('web')).map((server) => [server.name, server.state]));
    expect(await states()).toEqual({ a: 'ready', b: 'ready', c: 'ready' });
    await a[Symbol.asyncDispose]();
    await c[Symbol.asyncDispose]();
    // No request in between: the new worker's checks alone take them out.
    await until('a and c to be marked DOWN by their checks', async () => {
      const now = await states();
      return now.a === 'maint' && now.c === 'maint' ? true : undefined;
    });
    expect(await states()).toEqual({ a: 'maint', b: 'ready', c: 'maint' });
    expect(await bodies(haproxy.url, 6)).toEqual(['b', 'b', 'b', 'b', 'b', 'b']);
  });

  it('every server keeps the weight it was set to, and one registered again after the reload serves at full weight', async () => {
    await using haproxy = await startReloadableHAProxy(['web']);
    await using a = await startBackend('a', '127.0.0.2');
    await using b = await startBackend('b', '127.0.0.3');
    await using c = await startBackend('c', '127.0.0.4');
    const lb = new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 2_000, logger: pino({ level: 'silent' }) });
    await lb.register('web', 'a', a.address);
    await lb.register('web', 'b', b.address, undefined, { weight: 0 });
    await lb.register('web', 'c', c.address);
    await lb.setWeights('web', { a: 37, c: 256 });
    const weights = async () => Object.fromEntries((await lb.weights('web')).map((server) => [server.name, server.weight]));
    expect(await weights()).toEqual({ a: 37, b: 0, c: 256 });

    await haproxy.reload();

    expect(await weights()).toEqual({ a: 37, b: 0, c: 256 });
    // b at weight 0 is in the backend but sent nothing; c gets about seven of every eight.
    const served = await bodies(haproxy.url, 16);
    expect(served.filter((body) => body !== 'a' && body !== 'c')).toEqual([]);
    expect(served.filter((body) => body === 'c').length).toBeGreaterThan(8);
    await lb.register('web', 'a', a.address);
    expect(await weights()).toEqual({ a: 100, b: 0, c: 256 });
  });

  it('the save changes nothing and says why when HAProxy does not answer', async () => {
    await using haproxy = await startReloadableHAProxy(['web']);
    await using a = await startBackend('a', '127.0.0.2');
    await new HAProxyRuntimeApi({ address: `unix:${haproxy.runtimeSocket}`, drainTimeoutMs: 2_000, logger: pino({ level: 'silent' }) }).register('web', 'a', a.address);
    const configBefore = await readFile(haproxy.config, 'utf8');
    const nowhere = path.join(path.dirname(haproxy.config), 'nothing.sock');

    const saved = await execa(SAVE_SERVERS, ['--socket', nowhere, '--state-file', haproxy.stateFile, '--config', haproxy.config], { reject: false, all: true });

    expect(saved.exitCode).toBe(1);
    expect(saved.all).toContain(nowhere);
    expect(await readFile(haproxy.config, 'utf8')).toBe(configBefore);
    expect(await readFile(haproxy.stateFile, 'utf8')).toBe('');
  });
});
