// A deploy's counts on a real Redis: they stay right under concurrent, repeated and
// out-of-order reports and the watchdog's lost ones, the coordinator ends the deploy on
// them, and the reads an agent and a list make are sized by what they return.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { ReportRecorder } from '../../coordinator/report-recorder.js';
import { FleetEventBus } from '../../coordinator/fleet-event-bus.js';
import type { FleetControl } from '../../shared/ports/fleet-state.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const redis = redisForThisFile();
const store = () => new RedisDeployStore({ redis: redis.client, logger: silent });

let serial = 0;
async function newDeploy(hosts: number, extra: Partial<DeployRecord> = {}): Promise<DeployRecord> {
  const record: DeployRecord = {
    id: `d-count${String(++serial).padStart(4, '0')}`,
    role: 'web',
    env: 'production',
    tag: 'v1',
    image: '127.0.0.1:5000/web:v1',
    status: 'in_progress',
    createdAt: 1_700_000_000_000 + serial,
    targets: Array.from({ length: hosts }, (_, i) => `h${i + 1}`),
    ...extra,
  };
  return store().createDeploy(record);
}

const report = (host: string, state: HostReport['state'], extra: Partial<HostReport> = {}): HostReport => ({ host, state, steps: [{ step: 'received', at: 1 }], ...extra });

/** A fleet that marks nothing broken: these deploys succeed or lose hosts. */
const fleet = { brokenMark: async () => null } as unknown as FleetControl;
const recorder = () => new ReportRecorder({ store: store(), fleet, logger: silent, now: Date.now, fleetEvents: new FleetEventBus(silent) });

describe("a deploy's counts", () => {
  it('stay right under concurrent reports, repeats and reports that arrive out of order', async () => {
    const deploy = await newDeploy(40);
    const hosts = deploy.targets!;
    // Every host reports waiting, deploying and succeeded, each twice, all sent at once: a host's
    // later report may overtake its earlier one, as it can over HTTP.
    await Promise.all(
      hosts.flatMap((host, i) => [
        store().applyReport(deploy.id, report(host, 'waiting', { counted: 40 }), 1),
        store().applyReport(deploy.id, report(host, 'deploying'), 2),
        store().applyReport(deploy.id, report(host, 'waiting'), 3),
        ...(i % 2 === 0 ? [store().applyReport(deploy.id, report(host, 'waiting'), 4)] : []),
      ]),
    );
    const counts = await redis.client.hgetall(redisKeys.deployCounts(deploy.id));
    const total = Object.values(counts).reduce((sum, n) => sum + Number(n), 0);
    // Each host is in exactly one state, whatever order its reports took.
    expect(total).toBe(40);
    expect(Object.values(counts).every((n) => Number(n) >= 0)).toBe(true);

    // Out of order: a host's final report lands, then an older non-final one: the counts follow the latest stored.
    await Promise.all(hosts.map((host) => store().applyReport(deploy.id, report(host, 'succeeded', { remaining: 0 }), 5)));
    await Promise.all(hosts.map((host) => store().applyReport(deploy.id, report(host, 'succeeded', { remaining: 0 }), 6)));
    expect(await redis.client.hgetall(redisKeys.deployCounts(deploy.id))).toMatchObject({ succeeded: '40', waiting: '0', deploying: '0' });
    expect(await redis.client.hget(redisKeys.deployMeta(deploy.id), 'targetsEnded')).toBe('40');
    expect((await store().getSummary(deploy.id))?.counts).toEqual({ succeeded: 40 });
  });

  it('end the deploy through the coordinator: the last report ends it, a late repeat changes nothing', async () => {
    const deploy = await newDeploy(6);
    const reports = recorder();
    for (const [i, host] of deploy.targets!.entries()) {
      await reports.record(deploy.id, report(host, 'deploying', { counted: 6 }));
      const ended = await reports.record(deploy.id, report(host, 'succeeded', { remaining: 5 - i }));
      expect(ended?.record.status).toBe(i === 5 ? 'succeeded' : 'in_progress');
    }
    expect(await reports.record(deploy.id, report('h1', 'succeeded', { remaining: 0 }))).toMatchObject({ record: { status: 'succeeded' } });
    expect(await redis.client.zscore(redisKeys.deploysInProgress(), deploy.id)).toBeNull();
    expect(await store().getSummary(deploy.id)).toMatchObject({ status: 'succeeded', counts: { succeeded: 6 }, reported: 6, targetCount: 6, expectedHosts: 6 });
  });

  it("take the watchdog's lost report, hold back one for a host that ended, and name the lost hosts in a partial outcome", async () => {
    const deploy = await newDeploy(3);
    const reports = recorder();
    await reports.record(deploy.id, report('h1', 'succeeded', { counted: 3, remaining: 2 }));
    await reports.record(deploy.id, report('h2', 'deploying'));
    // h1 ended by itself: a lost report is held back and moves no count.
    expect((await reports.recordLost(deploy.id, { ...report('h1', 'lost'), state: 'lost' }))?.applied).toBe(false);
    expect(await redis.client.hgetall(redisKeys.deployCounts(deploy.id))).toMatchObject({ succeeded: '1', deploying: '1' });
    await reports.recordLost(deploy.id, { ...report('h2', 'lost', { remaining: 1 }), state: 'lost', error: 'Serf reports the host failed' });
    const last = await reports.recordLost(deploy.id, { ...report('h3', 'lost', { remaining: 0 }), state: 'lost' });
    expect(last?.record).toMatchObject({ status: 'partial', reason: 'hosts lost: h2, h3' });
    expect(await redis.client.hgetall(redisKeys.deployUnsuccessful(deploy.id))).toEqual({ h2: 'lost', h3: 'lost' });
    expect(await redis.client.hgetall(redisKeys.deployCounts(deploy.id))).toMatchObject({ succeeded: '1', deploying: '0', lost: '2' });
  });

  it('read the state a stored report leaves off its front, and decode one stored with its state elsewhere', async () => {
    const deploy = await newDeploy(2);
    await store().applyReport(deploy.id, report('h1', 'deploying'), 1);
    // Stored with its state first: what the report script reads without decoding.
    expect(await redis.client.hget(redisKeys.deployHosts(deploy.id), 'h1')).toMatch(/^\{"state":"deploying",/);
    // h2's report as a coordinator before this one stored it: its state after the steps.
    await redis.client.hset(redisKeys.deployHosts(deploy.id), 'h2', JSON.stringify({ host: 'h2', steps: [{ step: 'received', at: 1 }], state: 'deploying' }));
    await redis.client.hincrby(redisKeys.deployCounts(deploy.id), 'deploying', 1);
    await store().applyReport(deploy.id, report('h1', 'succeeded'), 2);
    await store().applyReport(deploy.id, report('h2', 'failed'), 2);
    const counts = await redis.client.hgetall(redisKeys.deployCounts(deploy.id));
    expect(counts).toEqual({ deploying: '0', succeeded: '1', failed: '1' });
    expect(await redis.client.hgetall(redisKeys.deployUnsuccessful(deploy.id))).toEqual({ h2: 'failed' });
  });

  it("give an agent its own view, and lists summaries page by page without repeats or gaps", async () => {
    const deploy = await newDeploy(3);
    await store().applyReport(deploy.id, report('h2', 'deploying', { counted: 3 }), 1);
    const view = await store().getHostView(deploy.id, 'h2');
    expect(view).toMatchObject({ id: deploy.id, host: 'h2', target: true, targetCount: 3, counts: { deploying: 1 }, mine: { state: 'deploying' } });
    expect(await store().getHostView(deploy.id, 'h9')).toMatchObject({ target: false });
    expect(await store().getHostView('d-nothing1', 'h2')).toBeUndefined();

    // Five deploys of another group, two created in the same millisecond: pages of two cover each once.
    const made = [];
    for (const createdAt of [10, 20, 20, 30, 40]) made.push((await newDeploy(1, { env: 'paging', createdAt })).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page += 1) {
      const answer = await store().listSummaries({ role: 'web', env: 'paging', limit: 2, cursor });
      seen.push(...answer.items.map((item) => item.id));
      cursor = answer.next;
      if (cursor === undefined) break;
    }
    expect(seen.sort()).toEqual([...made].sort());
    expect(cursor).toBeUndefined();
  });
});
