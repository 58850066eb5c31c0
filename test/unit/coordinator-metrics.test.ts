// The coordinator's Prometheus metrics as a scrape reads them: the fleet events of deploys
// driven through the API (in-memory store, no server) turned into counters, histograms and
// the hosts gauge, served at GET /metrics to a viewer or above.
import { beforeEach, describe, expect, it } from 'vitest';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, TOKEN } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';
import { parseExposition, samplesOf, valueOf, type Sample } from '../fixtures/prometheus-text.js';
import { FleetMetrics } from '../../coordinator/metrics/fleet-metrics.js';
import { HostStates } from '../../coordinator/metrics/host-states.js';
import { CountedSlotWaits, slotWaitMs } from '../../coordinator/metrics/slot-waits.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { Notifier } from '../../coordinator/notifications/notifier.js';
import { until } from '../fixtures/poll.js';

const production = { role: 'web', env: 'production' };

let store: InMemoryDeployStore;
let fleet: RecordingFleet;
let metrics: FleetMetrics;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  fleet = new RecordingFleet();
  metrics = new FleetMetrics({ processMetrics: false });
  coordinator = new CoordinatorHarness({ store, fleet, metrics });
});

async function scrape(token: string | null = TOKEN): Promise<{ status: number; type: string | null; text: string }> {
  await coordinator.fleetEvents.settled();
  const response = await coordinator.app.request('/metrics', { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

async function samples(): Promise<Sample[]> {
  const answer = await scrape();
  expect(answer.status, answer.text).toBe(200);
  return parseExposition(answer.text);
}

/** A report with steps at the given seconds after `base`, as an agent sends it. */
function report(host: string, state: HostReport['state'], steps: Array<[HostReport['steps'][number]['step'], number]>, base: number, extra: Partial<HostReport> = {}): HostReport {
  return { host, state, steps: steps.map(([step, s]) => ({ step, at: base + s * 1000 })), ...extra };
}

const hostsIn = (all: Sample[], state: string, group = production) => valueOf(all, 'grapevine_hosts', { ...group, state });

describe('GET /metrics', () => {
  it('serves the text format to a viewer, an operator and the bootstrap token; 401 without a token, 403 for a host', async () => {
    const viewer = await coordinator.tokenOf('viewer', 'prometheus');
    const operator = await coordinator.tokenOf('operator');
    for (const token of [viewer, operator, TOKEN]) {
      const answer = await scrape(token);
      expect(answer.status).toBe(200);
      expect(answer.type).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(answer.text).toContain('# TYPE grapevine_deploys_total counter');
    }
    const anonymous = await scrape(null);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text).error.code).toBe('unauthorized');
    const host = await scrape(await coordinator.hostToken('h1'));
    expect(host.status).toBe(403);
    expect(JSON.parse(host.text).error.message).toBe('GET /metrics needs the viewer scope; this credential (host h1) is host');
  });

  it('is not served by an app given no metrics', async () => {
    const bare = new CoordinatorHarness({ store, fleet });
    expect((await bare.app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it("includes Node.js's process metrics unless told not to", async () => {
    const withProcess = new CoordinatorHarness({ store, fleet, metrics: new FleetMetrics() });
    const text = await (await withProcess.app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(valueOf(parseExposition(text), 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });
});

describe('a deploy in the metrics', () => {
  it('counts a succeeded deploy once by role, environment and status, with its duration, slot waits and hosts', async () => {
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production', 'v1');
    let now = await samples();
    expect([hostsIn(now, 'waiting'), hostsIn(now, 'deploying'), hostsIn(now, 'succeeded')]).toEqual([3, 0, 0]);

    const t = coordinator.clock;
    // h1 found a slot free; h2 waited 4 s for it; h3 waited 9 s, and reports twice with its slot.
    await coordinator.call('POST', `/v1/deploys/${deploy.id}/reports`, report('h1', 'deploying', [['received', 0], ['slot', 0]], t, { counted: 3, slot: 1 }));
    await coordinator.call('POST', `/v1/deploys/${deploy.id}/reports`, report('h2', 'waiting', [['received', 0], ['waiting', 1]], t, { counted: 3 }));
    now = await samples();
    expect([hostsIn(now, 'waiting'), hostsIn(now, 'deploying')]).toEqual([2, 1]);
    await coordinator.report(deploy.id, 'h1', 'succeeded', { counted: 3, slot: 1, remaining: 2, steps: report('h1', 'succeeded', [['received', 0], ['slot', 0], ['release', 3]], t).steps });
    await coordinator.report(deploy.id, 'h2', 'succeeded', { counted: 3, slot: 1, remaining: 1, steps: report('h2', 'succeeded', [['received', 0], ['waiting', 1], ['slot', 5], ['release', 8]], t).steps });
    const h3Steps: Array<[HostReport['steps'][number]['step'], number]> = [['received', 0], ['waiting', 1], ['slot', 10]];
    await coordinator.call('POST', `/v1/deploys/${deploy.id}/reports`, report('h3', 'deploying', h3Steps, t, { counted: 3, slot: 1 }));
    await coordinator.report(deploy.id, 'h3', 'succeeded', { counted: 3, slot: 1, remaining: 0, steps: report('h3', 'succeeded', [...h3Steps, ['release', 12]], t).steps });

    now = await samples();
    expect(valueOf(now, 'grapevine_deploys_total', { ...production, status: 'succeeded' })).toBe(1);
    const ended = await coordinator.getDeploy(deploy.id);
    expect(ended.status).toBe('succeeded');
    const seconds = ((ended.finishedAt ?? 0) - ended.createdAt) / 1000;
    expect(valueOf(now, 'grapevine_deploy_duration_seconds_count', { ...production, status: 'succeeded' })).toBe(1);
    expect(valueOf(now, 'grapevine_deploy_duration_seconds_sum', { ...production, status: 'succeeded' })).toBeCloseTo(seconds, 3);
    // Three hosts, once each: 0, 4 and 9 s.
    expect(valueOf(now, 'grapevine_slot_wait_seconds_count', production)).toBe(3);
    expect(valueOf(now, 'grapevine_slot_wait_seconds_sum', production)).toBeCloseTo(13, 6);
    expect(valueOf(now, 'grapevine_slot_wait_seconds_bucket', { ...production, le: '0.1' })).toBe(1);
    expect(valueOf(now, 'grapevine_slot_wait_seconds_bucket', { ...production, le: '5' })).toBe(2);
    expect(valueOf(now, 'grapevine_slot_wait_seconds_bucket', { ...production, le: '10' })).toBe(3);
    expect([hostsIn(now, 'waiting'), hostsIn(now, 'deploying'), hostsIn(now, 'succeeded'), hostsIn(now, 'failed')]).toEqual([0, 0, 3, 0]);
    expect(valueOf(now, 'grapevine_releases_broken_total', { role: 'web' })).toBe(0);
  });

  it('counts a failed deploy and its release marked broken once, whatever the later reports', async () => {
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(deploy.id, 'h1', 'failed', { counted: 3, remaining: 2, error: 'health check failed' });
    await coordinator.report(deploy.id, 'h2', 'failed', { counted: 3, remaining: 1, error: 'health check failed too' });
    await coordinator.report(deploy.id, 'h3', 'cancelled', { counted: 3, remaining: 0 });
    await coordinator.report(deploy.id, 'h3', 'cancelled', { counted: 3, remaining: 0 });
    const now = await samples();
    expect(valueOf(now, 'grapevine_deploys_total', { ...production, status: 'failed' })).toBe(1);
    expect(valueOf(now, 'grapevine_deploys_total', { ...production, status: 'succeeded' })).toBe(0);
    expect(valueOf(now, 'grapevine_deploy_duration_seconds_count', { ...production, status: 'failed' })).toBe(1);
    expect(valueOf(now, 'grapevine_releases_broken_total', { role: 'web' })).toBe(1);
    expect([hostsIn(now, 'failed'), hostsIn(now, 'cancelled')]).toEqual([2, 1]);
    // No host took a slot: no wait to count.
    expect(valueOf(now, 'grapevine_slot_wait_seconds_count', production)).toBe(0);
  });

  it('counts an operator marking a release broken by its role', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.publish('api', 'v1');
    await coordinator.call('POST', '/v1/releases/api/v1/broken', { reason: 'leaks memory' });
    const now = await samples();
    expect(valueOf(now, 'grapevine_releases_broken_total', { role: 'api' })).toBe(1);
    expect(valueOf(now, 'grapevine_releases_broken_total', { role: 'web' })).toBe(0);
  });

  it('counts webhook failures by target', async () => {
    metrics.webhookFailed('team-chat');
    metrics.webhookFailed('team-chat');
    metrics.webhookFailed('pager');
    const now = await samples();
    expect(valueOf(now, 'grapevine_webhook_failures_total', { target: 'team-chat' })).toBe(2);
    expect(valueOf(now, 'grapevine_webhook_failures_total', { target: 'pager' })).toBe(1);
  });

  it("counts a notification its webhook never took, by the target's name, as the coordinator wires the notifier", async () => {
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production', 'v1');
    const notifier = new Notifier({
      targets: [{ name: 'team-chat', type: 'slack', url: new URL('http://127.0.0.1:9/hooks/SECRET') }],
      publicUrl: () => 'http://127.0.0.1:7700',
      logger: coordinator.logger,
      onDeliveryFailed: (target) => metrics.webhookFailed(target),
      transport: { post: async () => ({ status: 500 }) },
      policy: { capacity: 10, delaysMs: [0], deadlineMs: 1_000, timeoutMs: 100 },
    });
    notifier.read({ kind: 'deploy.started', at: coordinator.clock, actor: 'deployer ci', deploy });
    await until('the failure to be counted', async () => valueOf(await samples(), 'grapevine_webhook_failures_total', { target: 'team-chat' }) === 1 || undefined, { timeoutMs: 5_000, intervalMs: 20 });
    await notifier.stop(100);
    // The target's name is the label: its URL, which holds its key, appears nowhere.
    expect((await scrape()).text).not.toContain('SECRET');
  });

  it('moves one host with its catch-up and drops a host an operator forgot', async () => {
    await coordinator.publish('web', 'v1');
    const rollout = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.succeedEverywhere(rollout);
    const h1 = await coordinator.hostToken('h1');
    const catchUp = await coordinator.call('POST', '/v1/catch-ups', { ...production, host: 'h1', image: null }, { token: h1 });
    expect(catchUp.status).toBe(201);
    let now = await samples();
    expect([hostsIn(now, 'waiting'), hostsIn(now, 'succeeded')]).toEqual([1, 2]);
    // A late report of the rollout no longer speaks for h1: the catch-up does.
    await coordinator.report(rollout.id, 'h1', 'succeeded', { counted: 3, remaining: 0 });
    expect(hostsIn(await samples(), 'waiting')).toBe(1);
    await coordinator.report(catchUp.body.id, 'h1', 'errored', { counted: 1, remaining: 0, error: 'registry did not answer' });
    now = await samples();
    expect([hostsIn(now, 'errored'), hostsIn(now, 'succeeded')]).toEqual([1, 2]);

    fleet.outOfService.add('web/production/h1');
    expect((await coordinator.call('DELETE', '/v1/groups/web/production/out-of-service/h1')).status).toBe(200);
    now = await samples();
    expect([hostsIn(now, 'errored'), hostsIn(now, 'succeeded')]).toEqual([0, 2]);
  });

  it('keeps each group apart and every state present, zeros included', async () => {
    await coordinator.publish('web', 'v1');
    const staging = await coordinator.deploy('web', 'staging', 'v1');
    const now = await samples();
    expect(samplesOf(now, 'grapevine_hosts', { role: 'web', env: 'staging' }).map((s) => s.labels.state).sort()).toEqual(
      ['cancelled', 'deploying', 'errored', 'failed', 'lost', 'succeeded', 'waiting'],
    );
    expect(hostsIn(now, 'waiting', { role: 'web', env: 'staging' })).toBe(staging.targets?.length);
    expect(samplesOf(now, 'grapevine_hosts', production)).toEqual([]);
  });
});

describe('the hosts gauge', () => {
  it('makes a rollout\'s targets the group: a host the next rollout does not target leaves it', () => {
    const states = new HostStates();
    states.started({ id: 'd1', ...production, targets: ['h1', 'h2', 'h3'] });
    states.reported({ id: 'd1', ...production }, { host: 'h3', state: 'lost' });
    states.started({ id: 'd2', ...production, targets: ['h1', 'h2'] });
    const counts = states.counts().filter((c) => c.hosts > 0);
    expect(counts).toEqual([{ ...production, state: 'waiting', hosts: 2 }]);
  });

  it('takes a report of the newest rollout for a host it did not see start, and no report of another deploy', () => {
    const states = new HostStates();
    states.started({ id: 'd1', ...production });
    states.reported({ id: 'd1', ...production }, { host: 'h9', state: 'deploying' });
    states.reported({ id: 'd0', ...production }, { host: 'h8', state: 'succeeded' });
    states.reported({ id: 'd5', role: 'web', env: 'qa' }, { host: 'q1', state: 'succeeded' });
    expect(states.counts().filter((c) => c.hosts > 0)).toEqual([{ ...production, state: 'deploying', hosts: 1 }]);
  });

  it('is filled from stored deploys after a restart, oldest first, leaving groups the live events reached', async () => {
    await coordinator.publish('web', 'v1');
    const first = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.succeedEverywhere(first);
    const second = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(second.id, 'h1', 'deploying', { counted: 3, slot: 1 });
    await coordinator.deploy('web', 'staging', 'v1');

    const restarted = new FleetMetrics({ processMetrics: false });
    // A live event of staging came before the stored deploys were read: staging is left as it says.
    restarted.read({ kind: 'deploy.started', at: coordinator.clock, actor: 'test', deploy: { ...second, id: 'd-live', env: 'staging', targets: ['s9'] } });
    await restarted.replayFrom(store, coordinator.logger);
    const now = parseExposition(await restarted.exposition());
    expect([hostsIn(now, 'waiting'), hostsIn(now, 'deploying'), hostsIn(now, 'succeeded')]).toEqual([2, 1, 0]);
    expect(samplesOf(now, 'grapevine_hosts', { role: 'web', env: 'staging' }).filter((s) => s.value > 0)).toEqual([
      { name: 'grapevine_hosts', labels: { role: 'web', env: 'staging', state: 'waiting' }, value: 1 },
    ]);
    // Counters restart from zero: what ended before the restart is not counted again.
    expect(valueOf(now, 'grapevine_deploys_total', { ...production, status: 'succeeded' })).toBe(0);
  });

  it('is left to the live events when the store does not answer at start', async () => {
    store.unreachable();
    const restarted = new FleetMetrics({ processMetrics: false });
    await expect(restarted.replayFrom(store, coordinator.logger)).resolves.toBeUndefined();
    expect(samplesOf(parseExposition(await restarted.exposition()), 'grapevine_hosts')).toEqual([]);
  });
});

describe('slot waits', () => {
  it('run from the waiting step to the slot step; 0 without a waiting step; none before the slot', () => {
    const at = (step: HostReport['steps'][number]['step'], s: number) => ({ step, at: s * 1000 });
    expect(slotWaitMs({ steps: [at('received', 0), at('waiting', 1), at('slot', 7.5)] })).toBe(6500);
    expect(slotWaitMs({ steps: [at('received', 0), at('slot', 2)] })).toBe(0);
    expect(slotWaitMs({ steps: [at('received', 0), at('waiting', 1)] })).toBeUndefined();
  });

  it('are taken once per host per deploy, remembering a bounded number of deploys', () => {
    const counted = new CountedSlotWaits(2);
    expect([counted.first('d1', 'h1'), counted.first('d1', 'h1'), counted.first('d1', 'h2'), counted.first('d2', 'h1')]).toEqual([true, false, true, true]);
    counted.first('d3', 'h1');
    // d1 is forgotten once two newer deploys are remembered.
    expect([counted.first('d3', 'h1'), counted.first('d1', 'h1')]).toEqual([false, true]);
  });
});
