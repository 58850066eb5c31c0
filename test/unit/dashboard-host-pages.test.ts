// A deploy's dashboard page on a deploy of more hosts than a page: the counts over every host
// from the summary, one page of hosts with a link to the next, a live part that keeps to its
// page and refreshes less often; and the store is never asked for the whole record.
import { beforeEach, expect, it } from 'vitest';
import type { DeployStore } from '../../shared/ports/deploy-store.js';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, TOKEN } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';
import { InMemoryEventLog } from '../fixtures/in-memory-event-log.js';
import { HOSTS_PER_PAGE } from '../../coordinator/ui/deploy-read.js';

let coordinator: CoordinatorHarness;
let store: InMemoryDeployStore;
/** Whole-record reads of the store, which the dashboard must not make. */
let wholeReads = 0;

beforeEach(() => {
  store = new InMemoryDeployStore();
  const counting = new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'getDeploy' || name === 'listDeploys') wholeReads++;
      const value = Reflect.get(target, name, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as DeployStore;
  coordinator = new CoordinatorHarness({ store: counting, fleet: new RecordingFleet(), eventLog: { log: new InMemoryEventLog() } });
});

async function signedInCookie(): Promise<string> {
  const answer = await coordinator.app.request('/ui/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' },
    body: new URLSearchParams({ token: TOKEN, next: '/ui' }).toString(),
  });
  return answer.headers.get('set-cookie')!.split(';')[0]!;
}

it('shows the counts over every host, one page of hosts and a link to the next, without reading the whole record', async () => {
  await coordinator.publish('web', 'v1');
  const deploy = await coordinator.deploy('web', 'production', 'v1');
  const hosts = 450;
  for (let n = 0; n < hosts; n++) {
    const host = `sim-${String(n).padStart(4, '0')}`;
    await store.applyReport(deploy.id, { host, state: n < 5 ? 'failed' : 'succeeded', steps: [{ step: 'received', at: coordinator.clock }] });
  }
  const cookie = await signedInCookie();
  wholeReads = 0;
  const get = async (path: string) => (await coordinator.app.request(path, { headers: { cookie } })).text();

  const first = await get(`/ui/deploys/${deploy.id}`);
  expect(first).toContain('5 failed, 445 succeeded');
  expect(first).toContain(`Showing ${HOSTS_PER_PAGE} of the ${hosts} hosts that reported`);
  // The page's reports, and the first page also the targets not heard from (h1-h3 of the harness).
  expect(first.match(/data-host-row=/g)).toHaveLength(HOSTS_PER_PAGE + 3);
  expect(first).toContain('data-live-gap-ms="2000"');
  const more = /href="(\/ui\/deploys\/[^"]+\?hosts=[^"]+)" data-more-hosts/.exec(first)?.[1];
  expect(more).toBeDefined();

  const second = await get(more!.replaceAll('&amp;', '&'));
  const rows = (page: string) => [...page.matchAll(/data-host-row="([^"]+)"/g)].map((m) => m[1]);
  expect(rows(second)).toHaveLength(HOSTS_PER_PAGE);
  expect(rows(second).filter((host) => rows(first).includes(host))).toEqual([]);
  const cursor = new URL(more!, 'http://localhost').searchParams.get('hosts')!;
  expect(second).toContain(`data-live-url="/ui/deploys/${deploy.id}/live?hosts=${encodeURIComponent(cursor)}"`);

  const live = await get(`/ui/deploys/${deploy.id}/live?hosts=${encodeURIComponent(cursor)}`);
  expect(rows(live)).toEqual(rows(second));
  expect(wholeReads).toBe(0);
});

it('shows a small deploy whole, with its targets not heard from, as before', async () => {
  await coordinator.publish('web', 'v1');
  const deploy = await coordinator.deploy('web', 'production', 'v1');
  await coordinator.report(deploy.id, 'h1', 'succeeded', { counted: 3, remaining: 2 });
  const cookie = await signedInCookie();
  wholeReads = 0;
  const page = await (await coordinator.app.request(`/ui/deploys/${deploy.id}`, { headers: { cookie } })).text();
  expect([...page.matchAll(/data-host-row="([^"]+)"/g)].map((m) => m[1])).toEqual(['h1', 'h2', 'h3']);
  expect(page).toContain('1 succeeded, 2 not heard from');
  expect(page).not.toContain('data-more-hosts');
  const overview = await (await coordinator.app.request('/ui', { headers: { cookie } })).text();
  expect(overview).toContain(deploy.id);
  expect(wholeReads).toBe(0);
});
