// Feature flags end to end on one machine: the coordinator over a real Redis served over
// HTTP, `grapevine flag ...` as it ships, and an application's view through OpenFeature's
// server SDK with its OFREP provider, reading with a flags-reader credential. What an operator
// and an application see: on, off, user lists, a percentage that keeps its keys as it rises,
// the kill switch, the bulk answer's ETag, and bad input refused with nothing changed.
import { execa } from 'execa';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature, type Client } from '@openfeature/server-sdk';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { cliAgainstCoordinator } from '../fixtures/cli-against-coordinator.js';
import { CoordinatorHarness, TOKEN, coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { until } from '../fixtures/poll.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const testRedis = redisForThisFile();
let coordinator: CoordinatorHarness;
let readerToken: string;

beforeEach(async () => {
  await coordinator?.fleetEvents.settled();
  await testRedis.client.flushdb();
  ({ coordinator } = coordinatorOverRedis(testRedis.client, pino({ level: 'silent' })));
  readerToken = await coordinator.tokenOf('flags-reader', 'web-app');
});

const served = cliAgainstCoordinator('flags', () => coordinator);
const grapevine = (...args: string[]) =>
  execa(process.execPath, [served.cli, ...args], { env: { GRAPEVINE_COORDINATOR: served.url, GRAPEVINE_TOKEN: TOKEN }, extendEnv: false, reject: false, timeout: 30_000 });

let domains = 0;
/** An application's OpenFeature client for production, through the OFREP provider with the flags-reader token. */
async function application(): Promise<Client> {
  const domain = `app-${(domains += 1)}`;
  await OpenFeature.setProviderAndWait(domain, new OFREPProvider({ baseUrl: `${served.url}/envs/production`, headers: { authorization: `Bearer ${readerToken}` } }));
  return OpenFeature.getClient(domain);
}

const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
async function onKeys(app: Client, flag: string): Promise<Set<string>> {
  const on = new Set<string>();
  for (const key of keys) if (await app.getBooleanValue(flag, false, { targetingKey: key })) on.add(key);
  return on;
}

const setFlag = (name: string, body: unknown, token = TOKEN) => coordinator.call('PUT', `/v1/flags/production/${name}`, body, { token });
const ofrep = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${served.url}/envs/production/ofrep/v1/evaluate/flags${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${readerToken}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('flags through an OpenFeature client', () => {
  it('sees an on flag, an off flag, a user list, and string variants; grapevine flag set and list exit 0', async () => {
    const on = await grapevine('flag', 'set', 'new-checkout', '--env', 'production', '--on');
    expect(on.exitCode, on.stderr).toBe(0);
    expect(on.stdout.trim()).toBe('created flag new-checkout in production (version 1): on (true) for everyone');
    expect((await grapevine('flag', 'set', 'dark-mode', '--env', 'production', '--off')).exitCode).toBe(0);
    expect((await grapevine('flag', 'set', 'beta-search', '--env', 'production', '--users', 'alice,bob')).exitCode).toBe(0);
    const colour = await grapevine('flag', 'set', 'banner', '--env', 'production', '--variant', 'red=#ff0000', '--variant', 'blue=#0000ff', '--serve-on', 'blue', '--serve-off', 'red', '--segments', 'staff');
    expect(colour.exitCode, colour.stderr).toBe(0);

    const app = await application();
    expect(await app.getBooleanDetails('new-checkout', false, { targetingKey: 'carol' })).toMatchObject({ value: true, reason: 'STATIC', variant: 'on' });
    expect(await app.getBooleanDetails('dark-mode', true, { targetingKey: 'carol' })).toMatchObject({ value: false, reason: 'DISABLED' });
    expect(await app.getBooleanDetails('beta-search', false, { targetingKey: 'alice' })).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
    expect(await app.getBooleanDetails('beta-search', true, { targetingKey: 'carol' })).toMatchObject({ value: false, reason: 'DEFAULT' });
    expect(await app.getStringValue('banner', 'none', { targetingKey: 'carol', segment: 'staff' })).toBe('#0000ff');
    expect(await app.getStringValue('banner', 'none', { targetingKey: 'carol' })).toBe('#ff0000');
    // A flag nobody set: the code's default, with the provider's FLAG_NOT_FOUND.
    expect(await app.getBooleanDetails('nonexistent', true, { targetingKey: 'carol' })).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' });

    const listed = await grapevine('flag', 'list', '--env', 'production');
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout.split('\n').map((line) => line.split(/\s+/)[1])).toEqual(['banner', 'beta-search', 'dark-mode', 'new-checkout']);
    const json = await grapevine('flag', 'list', '--json');
    expect(JSON.parse(json.stdout).flags).toHaveLength(4);
  });

  it('serves a percentage to about that share of 1000 keys, and every key in at 30 % is still in at 60 %', async () => {
    expect((await grapevine('flag', 'set', 'new-pricing', '--env', 'production', '--percent', '30')).exitCode).toBe(0);
    const app = await application();
    const at30 = await onKeys(app, 'new-pricing');
    expect((await grapevine('flag', 'set', 'new-pricing', '--env', 'production', '--percent', '60')).exitCode).toBe(0);
    const at60 = await onKeys(app, 'new-pricing');
    console.log(`percentage rollout over ${keys.length} keys: ${at30.size} on at 30 %, ${at60.size} on at 60 %`);
    expect(Math.abs(at30.size - 300)).toBeLessThanOrEqual(50);
    expect(Math.abs(at60.size - 600)).toBeLessThanOrEqual(50);
    expect([...at30].filter((key) => !at60.has(key))).toEqual([]);
  });

  it('turns a flag off for everyone with the kill switch: the next evaluation is off, and it stays killed through a set until --on', async () => {
    await setFlag('new-checkout', { percent: 100 });
    const app = await application();
    expect(await app.getBooleanValue('new-checkout', false, { targetingKey: 'alice' })).toBe(true);

    const killed = await grapevine('flag', 'kill', 'new-checkout', '--env', 'production', '--reason', 'checkout errors');
    const answeredAt = performance.now();
    expect(killed.exitCode, killed.stderr).toBe(0);
    expect(killed.stdout.trim()).toBe('killed flag new-checkout in production: everyone gets off');
    const details = await until('an evaluation that sees the kill', async () => {
      const seen = await app.getBooleanDetails('new-checkout', true, { targetingKey: 'alice' });
      return seen.value === false ? seen : undefined;
    });
    console.log(`kill switch: first evaluation seen off ${(performance.now() - answeredAt).toFixed(1)} ms after the kill's answer`);
    expect(details.reason).toBe('DISABLED');
    expect(coordinator.published.filter((event) => event.kind === 'flag.killed')).toMatchObject([{ env: 'production', flag: 'new-checkout', reason: 'checkout errors', actor: 'operator bootstrap (config)' }]);

    const raised = await grapevine('flag', 'set', 'new-checkout', '--env', 'production', '--percent', '50');
    expect(raised.stdout).toContain('its kill switch stays on until: grapevine flag set new-checkout --env production --on');
    expect(await app.getBooleanValue('new-checkout', true, { targetingKey: 'alice' })).toBe(false);
    expect((await grapevine('flag', 'set', 'new-checkout', '--env', 'production', '--on', '--percent', 'none')).exitCode).toBe(0);
    expect(await app.getBooleanValue('new-checkout', false, { targetingKey: 'alice' })).toBe(true);
  });
});

describe('OFREP over HTTP', () => {
  it('answers a bulk evaluation with an ETag, 304 to If-None-Match, and 200 with a new ETag after a change', async () => {
    await setFlag('new-checkout', { users: ['alice'] });
    const first = await ofrep('', { context: { targetingKey: 'alice' } });
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    expect(await first.json()).toEqual({ flags: [{ key: 'new-checkout', value: true, reason: 'TARGETING_MATCH', variant: 'on', metadata: { flagVersion: 1 } }] });

    const same = await ofrep('', { context: { targetingKey: 'alice' } }, { 'if-none-match': etag });
    expect(same.status).toBe(304);
    expect(await same.text()).toBe('');
    // Another context is another answer.
    expect((await ofrep('', { context: { targetingKey: 'bob' } }, { 'if-none-match': etag })).status).toBe(200);

    await grapevine('flag', 'kill', 'new-checkout', '--env', 'production');
    const changed = await ofrep('', { context: { targetingKey: 'alice' } }, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(await changed.json()).toMatchObject({ flags: [{ key: 'new-checkout', value: false, reason: 'DISABLED' }] });
    expect(Number(await testRedis.client.get(redisKeys.flagsVersion('production')))).toBe(2);
  });

  it("answers the protocol's errors in its own shapes", async () => {
    await setFlag('rollout', { percent: 20 });
    expect(await (await ofrep('/missing', { context: {} })).json()).toEqual({ key: 'missing', errorCode: 'FLAG_NOT_FOUND', errorDetails: 'no flag missing in environment production' });
    const noKey = await ofrep('/rollout', { context: {} });
    expect(noKey.status).toBe(400);
    expect(await noKey.json()).toMatchObject({ key: 'rollout', errorCode: 'TARGETING_KEY_MISSING' });
    const garbled = await ofrep('/rollout', '{"context":');
    expect([garbled.status, await garbled.json()]).toEqual([400, { key: 'rollout', errorCode: 'PARSE_ERROR', errorDetails: 'the request body is not JSON' }]);
    const badContext = await ofrep('', { context: { targetingKey: 7 } });
    expect([badContext.status, await badContext.json()]).toEqual([400, { errorCode: 'INVALID_CONTEXT', errorDetails: 'context.targetingKey must be a non-empty string' }]);
  });

  it('admits a flags-reader to OFREP and nowhere else; no token is 401, a host credential 403', async () => {
    const created = await grapevine('--json', 'token', 'create', '--scope', 'flags-reader', '--name', 'sample-app');
    expect(created.exitCode, created.stderr).toBe(0);
    readerToken = JSON.parse(created.stdout).token;
    await setFlag('new-checkout', {});
    expect((await ofrep('/new-checkout', { context: { targetingKey: 'a' } })).status).toBe(200);
    const listing = await coordinator.call('GET', '/v1/flags', undefined, { token: readerToken });
    expect(listing.status).toBe(403);
    expect(listing.body.error.message).toMatch(/needs the viewer scope; this credential \(flags-reader sample-app\) is flags-reader/);
    expect((await coordinator.call('GET', '/v1/deploys', undefined, { token: readerToken })).status).toBe(403);
    expect((await setFlag('new-checkout', { enabled: false }, readerToken)).status).toBe(403);
    expect((await fetch(`${served.url}/envs/production/ofrep/v1/evaluate/flags`, { method: 'POST', body: '{}' })).status).toBe(401);
    readerToken = await coordinator.hostToken('h1');
    expect((await ofrep('/new-checkout', {})).status).toBe(403);
    readerToken = await coordinator.tokenOf('viewer');
    expect((await ofrep('/new-checkout', {})).status).toBe(200);
  });
});

describe('the flag store', () => {
  it('loses no change when many land at once: each is a version, and the bulk ETag version moved with each', async () => {
    await setFlag('new-checkout', { users: [] });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => setFlag('new-checkout', { users: [`user-${i}`], description: `change ${i}` })));
    expect(answers.map((answer) => answer.status)).toEqual(Array(12).fill(200));
    expect(new Set(answers.map((answer) => answer.body.flag.version))).toEqual(new Set(Array.from({ length: 12 }, (_, i) => i + 2)));
    const last = answers.find((answer) => answer.body.flag.version === 13)!;
    expect((await coordinator.call('GET', '/v1/flags/production/new-checkout')).body.flag).toEqual(last.body.flag);
    expect(Number(await testRedis.client.get(redisKeys.flagsVersion('production')))).toBe(13);
  });

  it('deletes a flag for an operator only; applications then get FLAG_NOT_FOUND', async () => {
    await setFlag('old-flag', {});
    const deployer = await coordinator.tokenOf('deployer');
    expect((await coordinator.call('DELETE', '/v1/flags/production/old-flag', undefined, { token: deployer })).status).toBe(403);
    const removed = await grapevine('flag', 'rm', 'old-flag', '--env', 'production');
    expect([removed.exitCode, removed.stdout.trim()]).toEqual([0, 'deleted flag old-flag from production (it was at version 1)']);
    expect((await ofrep('/old-flag', { context: { targetingKey: 'a' } })).status).toBe(404);
    expect((await grapevine('flag', 'rm', 'old-flag', '--env', 'production')).exitCode).toBe(2);
    expect(coordinator.published.filter((event) => event.kind === 'flag.changed').map((event) => event.kind === 'flag.changed' && event.change)).toEqual(['created', 'deleted']);
  });
});

describe('bad input', () => {
  it('is refused with an error naming the field, and changes nothing', async () => {
    await setFlag('new-checkout', { percent: 30, users: ['alice'] });
    const before = await coordinator.call('GET', '/v1/flags?env=production');

    const outside = await setFlag('new-checkout', { percent: 150 });
    expect([outside.status, outside.body.error]).toEqual([400, { code: 'invalid_input', message: 'invalid body: percent must be from 0 to 100' }]);
    const cli = await grapevine('flag', 'set', 'new-checkout', '--env', 'production', '--percent', '150');
    expect([cli.exitCode, cli.stderr.trim()]).toEqual([2, 'grapevine: --percent must be from 0 to 100; got 150']);
    const mixed = await setFlag('new-checkout', { variants: { a: 'x', b: 2 }, onVariant: 'a', offVariant: 'b' });
    expect(mixed.body.error.message).toBe('invalid body: variants must all be of one type: strings, numbers or booleans');
    const unnamed = await setFlag('new-checkout', { variants: { red: 'r', blue: 'b' } });
    expect(unnamed.body.error.message).toMatch(/^invalid body: onVariant must name one of the variants \(red, blue\); got on/);

    const unknownKill = await coordinator.call('POST', '/v1/flags/production/no-such-flag/kill', {});
    expect([unknownKill.status, unknownKill.body.error.message]).toEqual([404, 'no flag no-such-flag in production; grapevine flag list --env production shows its flags']);
    const cliKill = await grapevine('flag', 'kill', 'no-such-flag', '--env', 'production');
    expect([cliKill.exitCode, cliKill.stderr.trim()]).toEqual([2, 'grapevine: no flag no-such-flag in production; grapevine flag list --env production shows its flags']);

    const malformed = await setFlag('Bad_Name', { percent: 10 });
    expect([malformed.status, malformed.body.error.message]).toEqual([400, 'invalid path: name must be 1-64 characters of a-z, 0-9 and _ . -, starting with a letter']);
    const cliName = await grapevine('flag', 'set', 'Bad_Name', '--env', 'production');
    expect(cliName.exitCode).toBe(2);
    expect(cliName.stderr.trim()).toBe('grapevine: flag name: (root) must be 1-64 characters of a-z, 0-9 and _ . -, starting with a letter');

    expect(await coordinator.call('GET', '/v1/flags?env=production')).toEqual(before);
    expect(before.body.flags).toMatchObject([{ name: 'new-checkout', percent: 30, users: ['alice'], version: 1 }]);
    expect(await testRedis.client.hkeys(redisKeys.flags('production'))).toEqual(['new-checkout']);
    expect(coordinator.published.filter((event) => event.kind.startsWith('flag.'))).toHaveLength(1);
  });
});
