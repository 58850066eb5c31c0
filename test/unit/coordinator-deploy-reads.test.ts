// The deploy reads over HTTP, in process on an in-memory store: an agent's own view, summary
// pages with cursors, host report pages, and refusals that name what is wrong.
import { beforeEach, describe, expect, it } from 'vitest';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

let store: InMemoryDeployStore;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  coordinator = new CoordinatorHarness({ store, fleet: new RecordingFleet(), members: new ListedMembers(['h1', 'h2', 'h3']) });
});

describe('an agent reads its own view of a deploy', () => {
  it('with its host credential: its report, whether it is a target, the counts, no other host', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(id, 'h2', 'deploying', { counted: 3 });
    const token = await coordinator.hostToken('h2');
    const view = await coordinator.call('GET', `/v1/deploys/${id}/host-view`, undefined, { token });
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ id, host: 'h2', target: true, targetCount: 3, tag: 'v1', counts: { deploying: 1 }, mine: { state: 'deploying' } });
    expect(view.body.hosts).toBeUndefined();
  });

  it("refuses a host reading another host's view, and a viewer that names no host", async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    const other = await coordinator.call('GET', `/v1/deploys/${id}/host-view?host=h1`, undefined, { token: await coordinator.hostToken('h2') });
    expect(other).toMatchObject({ status: 403, body: { error: { code: 'forbidden', message: "host h2 may read only its own view of a deploy, not h1's" } } });
    expect((await coordinator.call('GET', `/v1/deploys/${id}/host-view`)).status).toBe(403);
    expect((await coordinator.call('GET', `/v1/deploys/${id}/host-view?host=h1`)).body).toMatchObject({ host: 'h1', target: true });
    expect((await coordinator.call('GET', `/v1/deploys/${id}/host-view?host=bad host`)).status).toBe(400);
    expect((await coordinator.call('GET', '/v1/deploys/d-nothing1/host-view?host=h1')).status).toBe(404);
  });
});

describe('lists', () => {
  it('page summaries by cursor, newest first, each once, with counts and no reports', async () => {
    await coordinator.publish('web', 'v1');
    const made: string[] = [];
    for (let i = 0; i < 5; i += 1) made.push((await coordinator.deploy('web', 'production', 'v1')).id);
    await coordinator.report(made[4]!, 'h1', 'succeeded', { counted: 3, remaining: 2 });
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page += 1) {
      const answer = await coordinator.call('GET', `/v1/deploys?limit=2${cursor === undefined ? '' : `&cursor=${cursor}`}`);
      expect(answer.status).toBe(200);
      for (const deploy of answer.body.deploys) expect(deploy.hosts).toBeUndefined();
      seen.push(...answer.body.deploys.map((deploy: { id: string }) => deploy.id));
      cursor = answer.body.next;
      if (cursor === undefined) break;
    }
    expect(seen.sort()).toEqual([...made].sort());
    const newest = (await coordinator.call('GET', '/v1/deploys?limit=1')).body.deploys[0];
    expect(newest).toMatchObject({ counts: { succeeded: 1 }, reported: 1, targetCount: 3 });
  });

  it("page one deploy's host reports, and refuse a malformed cursor naming the field", async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    for (const host of ['h1', 'h2', 'h3']) await coordinator.report(id, host, 'deploying', { counted: 3 });
    const first = await coordinator.call('GET', `/v1/deploys/${id}/hosts?limit=2`);
    const second = await coordinator.call('GET', `/v1/deploys/${id}/hosts?limit=2&cursor=${first.body.next}`);
    expect([...first.body.hosts, ...second.body.hosts].map((report: { host: string }) => report.host).sort()).toEqual(['h1', 'h2', 'h3']);
    expect(second.body.next).toBeUndefined();
    const bad = await coordinator.call('GET', `/v1/deploys/${id}/hosts?cursor=${encodeURIComponent('x y')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('cursor');
    expect((await coordinator.call('GET', '/v1/deploys?limit=0')).body.error.message).toContain('limit');
  });
});
