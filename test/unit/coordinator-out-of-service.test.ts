// The coordinator's out-of-service API on the in-memory store and fleet: what an operator
// sees of the hosts a group counts against k, and forgetting one (404, 409 while it
// deploys, force, bad names). No Redis, no server.
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

const production = { role: 'web', env: 'production' };
const LIST = '/v1/groups/web/production/out-of-service';

let fleet: RecordingFleet;
let coordinator: CoordinatorHarness;
let logs: Array<Record<string, unknown>>;

beforeEach(() => {
  fleet = new RecordingFleet();
  logs = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  coordinator = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet, logger });
});

const call = (...args: Parameters<CoordinatorHarness['call']>) => coordinator.call(...args);
const forget = (host: string, query = '') => call('DELETE', `${LIST}/${host}${query}`);
const isOut = (host: string) => fleet.outOfService.has(`web/production/${host}`);

describe('listing the hosts counted out of service', () => {
  it('lists each host with what Serf says of it, the slot it holds and the newest deploy with its k', async () => {
    coordinator.members.add('production', ['h4', 'h5', 'h6']);
    await coordinator.publish('web', 'v1');
    const created = await coordinator.deploy('web', 'production', 'v1');
    fleet.takeSlot(production, 2, 'h2');
    fleet.outOfService.add('web/production/h1');
    coordinator.members.setStatus('h1', 'failed');
    fleet.outOfService.add('web/production/h3');
    coordinator.members.setStatus('h3', 'left');
    fleet.outOfService.add('web/production/gone');
    // Another group's host is not this group's business.
    fleet.outOfService.add('web/staging/h5s');

    const answer = await call('GET', LIST);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      role: 'web',
      env: 'production',
      deploy: { id: created.id, status: 'in_progress', slots: 2 },
      hosts: [
        { host: 'gone', serf: 'not-listed', slot: null },
        { host: 'h1', serf: 'failed', slot: null },
        { host: 'h2', serf: 'alive', slot: 2 },
        { host: 'h3', serf: 'left', slot: null },
      ],
    });
  });

  it('answers an empty list and no deploy for a group never deployed', async () => {
    expect((await call('GET', '/v1/groups/api/qa/out-of-service')).body).toEqual({ role: 'api', env: 'qa', deploy: null, hosts: [] });
  });

  it('still lists the hosts when Serf cannot be asked, with their status unknown and why', async () => {
    fleet.outOfService.add('web/production/h1');
    coordinator.members.failWith = 'serf agent not running';
    const answer = await call('GET', LIST);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ hosts: [{ host: 'h1', serf: 'unknown', slot: null }], serfError: 'serf agent not running' });
  });

  it('answers 502 naming Redis when the fleet state does not answer', async () => {
    fleet.failWith = 'redis at 127.0.0.1:6379 is unreachable';
    const answer = await call('GET', LIST);
    expect(answer.status).toBe(502);
    expect(answer.body.error).toEqual({ code: 'unreachable', message: 'redis at 127.0.0.1:6379 is unreachable' });
  });
});

describe('forgetting a host counted out of service', () => {
  beforeEach(async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.deploy('web', 'production', 'v1');
  });

  it('takes a dead host out of the set through backInService and logs who and why', async () => {
    fleet.outOfService.add('web/production/h1');
    coordinator.members.setStatus('h1', 'failed');

    const answer = await forget('h1', '?by=sre%40laptop&reason=decommissioned');
    expect(answer).toEqual({
      status: 200,
      body: { role: 'web', env: 'production', host: 'h1', serf: 'failed', slot: null, removed: true, forced: false },
    });
    expect(isOut('h1')).toBe(false);
    expect(fleet.backInServiceCalls).toEqual(['web/production/h1']);
    expect(logs.find((line) => line.msg === 'host forgotten by an operator: no longer counted out of service')).toMatchObject({
      role: 'web', env: 'production', host: 'h1', by: 'operator bootstrap (config), for sre@laptop', reason: 'decommissioned', serf: 'failed', forced: false,
    });
  });

  it('answers 404 naming the host when it is not counted out of service, changing nothing', async () => {
    fleet.outOfService.add('web/staging/h1');
    const answer = await forget('h1');
    expect(answer.status).toBe(404);
    expect(answer.body.error).toEqual({ code: 'not_found', message: 'host h1 is not counted out of service in web/production' });
    expect(fleet.backInServiceCalls).toEqual([]);
    expect(fleet.outOfService.has('web/staging/h1')).toBe(true);
  });

  it('refuses with 409 a host that holds a slot and is alive in Serf: it is deploying', async () => {
    fleet.takeSlot(production, 1, 'h2');
    const answer = await forget('h2');
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('host_deploying');
    expect(answer.body.error.message).toContain('host h2 holds slot 1 of web/production and Serf lists it alive');
    expect(answer.body.error.message).toContain('k + 1 hosts');
    expect(isOut('h2')).toBe(true);
    expect(fleet.backInServiceCalls).toEqual([]);
  });

  it('refuses a slot holder Serf cannot be asked about, as if alive', async () => {
    fleet.takeSlot(production, 1, 'h2');
    coordinator.members.failWith = 'serf agent not running';
    const answer = await forget('h2');
    expect(answer.status).toBe(409);
    expect(answer.body.error.message).toContain('Serf could not be asked whether it is alive (serf agent not running)');
    expect(isOut('h2')).toBe(true);
  });

  it('forgets a deploying host with force=true, and says it was forced', async () => {
    fleet.takeSlot(production, 1, 'h2');
    const answer = await forget('h2', '?force=true&reason=host%20wiped');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ host: 'h2', serf: 'alive', slot: 1, removed: true, forced: true });
    expect(isOut('h2')).toBe(false);
    expect(logs.find((line) => line.host === 'h2' && line.forced === true)?.reason).toBe('host wiped');
  });

  it('forgets a slot holder Serf lists failed without force: its lease can no longer be renewed by a live agent', async () => {
    fleet.takeSlot(production, 1, 'h2');
    coordinator.members.setStatus('h2', 'failed');
    expect((await forget('h2')).body).toMatchObject({ serf: 'failed', slot: 1, removed: true, forced: false });
  });

  it('force=false is no force', async () => {
    fleet.takeSlot(production, 1, 'h2');
    expect((await forget('h2', '?force=false')).status).toBe(409);
  });
});

describe('bad input gets a 400 naming what is wrong', () => {
  it.each([
    ['GET', '/v1/groups/Web!/production/out-of-service', /^invalid path: role /],
    ['GET', '/v1/groups/web/PROD/out-of-service', /^invalid path: env /],
    ['DELETE', '/v1/groups/web/production/out-of-service/h_1', /^invalid path: host /],
    ['DELETE', `/v1/groups/web/production/out-of-service/${'h'.repeat(64)}`, /^invalid path: host /],
    ['DELETE', '/v1/groups/web/production/out-of-service/h1?force=yes', /^invalid query: force /],
    ['DELETE', '/v1/groups/web/production/out-of-service/h1?reason=', /^invalid query: reason /],
  ])('%s %s', async (method, path, message) => {
    fleet.outOfService.add('web/production/h1');
    const answer = await call(method, path);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_input');
    expect(answer.body.error.message).toMatch(message);
    expect(isOut('h1')).toBe(true);
  });

  it('refuses both routes without the token', async () => {
    fleet.outOfService.add('web/production/h1');
    expect((await call('GET', LIST, undefined, { token: null })).status).toBe(401);
    expect((await call('DELETE', `${LIST}/h1`, undefined, { token: null })).status).toBe(401);
    expect(isOut('h1')).toBe(true);
  });
});
