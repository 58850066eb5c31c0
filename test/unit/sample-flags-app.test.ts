// The sample app's v4-flags tag, in process, against a small stand-in of the coordinator's OFREP
// single-evaluation endpoint on loopback: each answer shows `new-banner` as evaluated for that
// request's user with the flags-reader token from its file, and every failure to evaluate (no
// coordinator, one that never answers, a refused token, an unknown flag) serves off, never an error.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openBannerFlag } from '../../provisioning/sample-app/flags-app/banner-flag.js';
import { readConfig } from '../../provisioning/sample-app/flags-app/config.js';
import { listenFlagsApp, type RunningFlagsApp } from '../../provisioning/sample-app/flags-app/server.js';

const TOKEN = 'gv_flags_reader_test';

/** What the stand-in answers: the flag on for everyone, for a list of users, or unknown. */
interface StandInFlag {
  on: boolean;
  users?: string[];
  missing?: boolean;
}

interface StandIn {
  baseUrl: string;
  flag: StandInFlag;
  /** Each evaluation request: the flag's key, the bearer it carried and its targeting key. */
  seen: Array<{ key: string; authorization?: string; targetingKey?: string }>;
  close(): Promise<void>;
}

async function startStandIn(): Promise<StandIn> {
  const standIn = { flag: { on: false } as StandInFlag, seen: [] as StandIn['seen'] };
  const server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const match = /^\/envs\/production\/ofrep\/v1\/evaluate\/flags\/([^/]+)$/.exec(request.url ?? '');
      const context = (JSON.parse(body || '{}') as { context?: { targetingKey?: string } }).context ?? {};
      const key = decodeURIComponent(match?.[1] ?? '');
      standIn.seen.push({ key, ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}), ...(context.targetingKey ? { targetingKey: context.targetingKey } : {}) });
      const json = (status: number, value: unknown) => response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
      if (request.method !== 'POST' || !match) return json(404, { error: 'no such route' });
      if (request.headers.authorization !== `Bearer ${TOKEN}`) return json(401, { errorCode: 'GENERAL', errorDetails: 'unauthorized' });
      const { flag } = standIn;
      if (flag.missing) return json(404, { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag ${key} not found` });
      const on = flag.on && (flag.users === undefined || flag.users.includes(context.targetingKey ?? ''));
      json(200, { key, value: on, variant: on ? 'on' : 'off', reason: flag.users ? (on ? 'TARGETING_MATCH' : 'DEFAULT') : on ? 'STATIC' : 'DISABLED' });
    });
  });
  const port = await listen(server);
  return Object.assign(standIn, { baseUrl: `http://127.0.0.1:${port}/envs/production`, close: () => closeServer(server) });
}

const dir = mkdtempSync(join(tmpdir(), 'gv-flags-app-'));
const tokenFile = join(dir, 'flags-reader.token');
let standIn: StandIn;
let app: RunningFlagsApp;
const extraApps: RunningFlagsApp[] = [];
const extraServers: Server[] = [];
const lines: string[] = [];

async function startApp(flagsUrl: string | undefined, options: { tokenFile?: string; timeoutMs?: number } = {}): Promise<RunningFlagsApp> {
  const banner = await openBannerFlag({ ...(flagsUrl ? { flagsUrl } : {}), ...(options.tokenFile ? { tokenFile: options.tokenFile } : {}), evaluationTimeoutMs: options.timeoutMs ?? 1_000, log: (line) => lines.push(line) });
  return listenFlagsApp({ version: 'v4-flags', host: 'h1', port: 0, healthy: true }, banner, '127.0.0.1');
}

async function get(base: RunningFlagsApp, path = '/', headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${base.url}${path}`, { headers, signal: AbortSignal.timeout(5_000) });
  return `${response.status} ${await response.text()}`;
}

beforeAll(async () => {
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  standIn = await startStandIn();
  app = await startApp(standIn.baseUrl, { tokenFile });
});

afterEach(async () => {
  standIn.flag = { on: false };
  standIn.seen.length = 0;
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  await Promise.all(extraApps.splice(0).map((extra) => extra.close()));
  await Promise.all(extraServers.splice(0).map(closeServer));
});

afterAll(async () => {
  await app.close();
  await standIn.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the v4-flags sample app', () => {
  it('answers like the other tags, followed by the flag, and asks again on every request', async () => {
    expect(await get(app)).toBe('200 v4-flags h1 banner=off\n');
    standIn.flag = { on: true };
    expect(await get(app)).toBe('200 v4-flags h1 banner=on\n');
    standIn.flag = { on: false };
    expect(await get(app)).toBe('200 v4-flags h1 banner=off\n');
    expect(standIn.seen.map((s) => [s.key, s.authorization])).toEqual(Array.from({ length: 3 }, () => ['new-banner', `Bearer ${TOKEN}`]));
    expect(await get(app, '/healthz')).toBe('200 ok');
  });

  it('targets the user of ?user= first, then X-User, else anonymous', async () => {
    standIn.flag = { on: true, users: ['alice'] };
    expect(await get(app, '/?user=alice')).toBe('200 v4-flags h1 banner=on\n');
    expect(await get(app, '/?user=bob')).toBe('200 v4-flags h1 banner=off\n');
    expect(await get(app, '/', { 'X-User': 'alice' })).toBe('200 v4-flags h1 banner=on\n');
    expect(await get(app, '/?user=bob', { 'X-User': 'alice' })).toBe('200 v4-flags h1 banner=off\n');
    expect(await get(app)).toBe('200 v4-flags h1 banner=off\n');
    expect(standIn.seen.map((s) => s.targetingKey)).toEqual(['alice', 'bob', 'alice', 'bob', 'anonymous']);
  });

  it('reads the token file at each evaluation: a refused or missing token serves off', async () => {
    standIn.flag = { on: true };
    writeFileSync(tokenFile, 'gv_revoked\n');
    expect(await get(app)).toBe('200 v4-flags h1 banner=off\n');
    rmSync(tokenFile);
    expect(await get(app)).toBe('200 v4-flags h1 banner=off\n');
    expect(lines.some((line) => line.includes(`cannot read the token file ${tokenFile}: ENOENT`))).toBe(true);
    writeFileSync(tokenFile, `${TOKEN}\n`);
    expect(await get(app)).toBe('200 v4-flags h1 banner=on\n');
    expect(standIn.seen.map((s) => s.authorization)).toEqual(['Bearer gv_revoked', undefined, `Bearer ${TOKEN}`]);
    // The app's log names the file and the failure, never a token.
    expect(lines.join('\n')).not.toMatch(/gv_revoked|gv_flags_reader_test/);
  });

  it('serves off for a flag the coordinator does not know', async () => {
    standIn.flag = { on: true, missing: true };
    expect(await get(app)).toBe('200 v4-flags h1 banner=off\n');
    expect(lines.at(-1)).toMatch(/FLAG_NOT_FOUND/);
  });

  it('serves off when no coordinator listens, or one never answers, or none is configured', async () => {
    const closed = createServer();
    const closedPort = await listen(closed);
    await closeServer(closed);
    const refused = await startApp(`http://127.0.0.1:${closedPort}/envs/production`, { tokenFile });
    extraApps.push(refused);
    expect(await get(refused)).toBe('200 v4-flags h1 banner=off\n');

    // Accepts the evaluation and never answers it: the app's own deadline ends the wait.
    const silent = createServer(() => {});
    extraServers.push(silent);
    const silentPort = await listen(silent);
    const stalled = await startApp(`http://127.0.0.1:${silentPort}/envs/production`, { tokenFile, timeoutMs: 200 });
    extraApps.push(stalled);
    const started = Date.now();
    expect(await get(stalled)).toBe('200 v4-flags h1 banner=off\n');
    console.log(`a coordinator that never answers: the app served the default after ${Date.now() - started} ms (its deadline 200 ms)`);

    const unconfigured = await startApp(undefined);
    extraApps.push(unconfigured);
    expect(await get(unconfigured)).toBe('200 v4-flags h1 banner=off\n');
  });
});

describe("the v4-flags app's settings", () => {
  it('takes the flags URL without a trailing slash, and the defaults of the other tags', () => {
    expect(readConfig({ GRAPEVINE_FLAGS_URL: 'http://10.242.0.1:7000/envs/production/', GRAPEVINE_FLAGS_TOKEN_FILE: '/run/t' }, 'box')).toEqual({
      version: 'dev',
      host: 'box',
      port: 8080,
      startDelayS: 0,
      healthy: true,
      flagsUrl: 'http://10.242.0.1:7000/envs/production',
      tokenFile: '/run/t',
      evaluationTimeoutMs: 1_000,
    });
  });

  it('names every bad variable in one error', () => {
    expect(() => readConfig({ PORT: '80a', START_DELAY: 'soon', GRAPEVINE_FLAGS_URL: 'ftp://x' }, 'box')).toThrow(
      "PORT must be a whole number from 0 to 65535, got '80a'; START_DELAY must be a number of seconds, got 'soon'; GRAPEVINE_FLAGS_URL must be an http(s) URL, got 'ftp://x'",
    );
  });
});

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
