// The OFREP endpoints through the app with no server: the bulk answer's ETag against the forms
// If-None-Match takes, what a malformed request gets, and that no body whatever makes a 500.
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { CoordinatorHarness, TOKEN } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';
import { InMemoryFlagStore } from '../fixtures/in-memory-flag-store.js';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';

let coordinator: CoordinatorHarness;
beforeEach(async () => {
  coordinator = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet: new RecordingFleet(), flags: new InMemoryFlagStore() });
  expect((await coordinator.call('PUT', '/v1/flags/production/new-checkout', { users: ['alice'] })).status).toBe(201);
});

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  coordinator.app.request(`/envs/production/ofrep/v1/evaluate/flags${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, ...headers }, body });

describe('OFREP bulk evaluation', () => {
  it('answers 304 to its ETag in any form If-None-Match takes, and 200 to another', async () => {
    const etag = (await post('', '{"context":{"targetingKey":"alice"}}')).headers.get('etag')!;
    const body = '{"context":{"targetingKey":"alice"}}';
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) expect((await post('', body, { 'if-none-match': header })).status, header).toBe(304);
    expect((await post('', body, { 'if-none-match': '"other"' })).status).toBe(200);
    // The same context with its keys in another order is the same answer.
    const reordered = await post('', '{"context":{"b":1,"targetingKey":"alice","a":[1,{"y":2,"x":1}]}}');
    expect((await post('', '{"context":{"a":[1,{"x":1,"y":2}],"targetingKey":"alice","b":1}}', { 'if-none-match': reordered.headers.get('etag')! })).status).toBe(304);
  });

  it('reads an empty body as an empty context, and refuses a body that is not an object', async () => {
    expect(await (await post('', '')).json()).toEqual({ flags: [{ key: 'new-checkout', value: false, reason: 'DEFAULT', variant: 'off', metadata: { flagVersion: 1 } }] });
    expect(await (await post('', '[1]')).json()).toEqual({ errorCode: 'PARSE_ERROR', errorDetails: 'the request body must be a JSON object: {"context": {...}}' });
    const badEnv = await coordinator.app.request('/envs/Prod!/ofrep/v1/evaluate/flags', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{}' });
    expect([badEnv.status, await badEnv.json()]).toEqual([400, { errorCode: 'GENERAL', errorDetails: 'environment "Prod!" must be 1-32 characters of a-z, 0-9 and -' }]);
  });

  it('answers a malformed flag key as not found', async () => {
    const answer = await post('/Not%20A%20Flag', '{}');
    expect([answer.status, await answer.json()]).toEqual([404, { key: 'Not A Flag', errorCode: 'FLAG_NOT_FOUND', errorDetails: 'no flag Not A Flag in environment production' }]);
  });

  it('never answers 500, whatever the body', async () => {
    const body = fc.oneof(fc.json(), fc.string(), fc.jsonValue().map((context) => JSON.stringify({ context })));
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('', '/new-checkout', '/missing'), async (text, path) => {
        const answer = await post(path, text);
        expect([200, 400, 404]).toContain(answer.status);
        const json = (await answer.json()) as { errorCode?: unknown };
        if (answer.status !== 200) expect(typeof json.errorCode).toBe('string');
      }),
      { numRuns: 300 },
    );
  });
});
