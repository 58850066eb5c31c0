// Prometheus metrics on the insight cluster, scraped as Prometheus would: the coordinator's
// /metrics with a viewer token as bearer, each agent's on its own host address. Every figure
// is compared before and after this part's own deploys of its own tags (v1's and bad's images),
// so the other parts' deploys never change what it asserts.
import { expect, it } from 'vitest';
import type { TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';
import { parseExposition, samplesOf, valueOf, type Sample } from '../../fixtures/prometheus-text.js';

const GOOD_TAG = 'metrics-ok';
const BAD_TAG = 'metrics-bad';
const SCRAPE_TIMEOUT_MS = 5_000;
/** The bus hands the deploy's end to the metrics just after the coordinator stores it; this bounds the wait. */
const MOVE_TIMEOUT_MS = 10_000;
const production = { role: 'web', env: 'production' };
const staging = { role: 'web', env: 'staging' };

export function metricsChecks(cluster: () => TestCluster): void {
  let viewerToken = '';

  async function scrape(url: string, token?: string): Promise<{ status: number; type: string | null; text: string; ms: number }> {
    const startedAt = performance.now();
    const response = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type'), text, ms: performance.now() - startedAt };
  }

  async function coordinatorSamples(): Promise<Sample[]> {
    const answer = await scrape(`${cluster().state().coordinatorUrl}/metrics`, viewerToken);
    expect(answer.status, answer.text.slice(0, 300)).toBe(200);
    return parseExposition(answer.text);
  }

  function metricsUrlOf(host: string): string {
    const url = cluster().state().hosts.find((h) => h.name === host)?.metricsUrl;
    if (!url) throw new Error(`host ${host} has no metrics URL in the cluster's state`);
    return url;
  }

  async function agentSamples(host: string): Promise<Sample[]> {
    const answer = await scrape(metricsUrlOf(host));
    expect(answer.status).toBe(200);
    return parseExposition(answer.text);
  }

  async function publish(tag: string, imageTag: string): Promise<void> {
    const published = await cluster().cli(['release', 'publish', 'web', tag, '--image', `${cluster().state().registry}/web:${imageTag}`]);
    expect(published.exitCode, published.stderr).toBe(0);
  }

  /** Polls the coordinator's metrics (bounded) until `moved` holds; returns the samples then. */
  async function coordinatorOnceMoved(what: string, moved: (now: Sample[]) => boolean): Promise<Sample[]> {
    return until(what, async () => {
      const now = await coordinatorSamples();
      return moved(now) ? now : undefined;
    }, { timeoutMs: MOVE_TIMEOUT_MS, intervalMs: 200 });
  }

  const stepCount = (samples: Sample[], step: string, group = production) => valueOf(samples, 'grapevine_agent_step_duration_seconds_count', { ...group, step });
  const lastState = (samples: Sample[], group: typeof production) => samplesOf(samples, 'grapevine_agent_last_deploy_state', group).filter((s) => s.value === 1).map((s) => s.labels.state);
  const releaseTags = (samples: Sample[], group: typeof production) => samplesOf(samples, 'grapevine_agent_release_info', group).filter((s) => s.value === 1).map((s) => s.labels.tag);

  it("serves the coordinator's metrics to a viewer token and no one without, and each agent's on its own address", async () => {
    const created = await cluster().cli(['token', 'create', '--scope', 'viewer', '--name', 'prometheus']);
    expect(created.exitCode, created.stderr).toBe(0);
    viewerToken = created.stdout.trim();
    const url = `${cluster().state().coordinatorUrl}/metrics`;
    expect((await scrape(url)).status).toBe(401);
    expect((await scrape(url, 'not-a-token')).status).toBe(401);
    const answer = await scrape(url, viewerToken);
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const samples = parseExposition(answer.text);
    expect(valueOf(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(answer.text).toContain('# TYPE grapevine_deploys_total counter');
    console.log(`[metrics] coordinator: ${samples.length} samples, ${answer.text.length} bytes, scraped in ${answer.ms.toFixed(1)} ms`);

    for (const host of cluster().state().hosts) {
      const agent = await scrape(metricsUrlOf(host.name));
      expect(agent.status, host.name).toBe(200);
      expect(agent.type).toBe('text/plain; version=0.0.4; charset=utf-8');
      const own = parseExposition(agent.text);
      expect(valueOf(own, 'process_resident_memory_bytes'), host.name).toBeGreaterThan(0);
      expect(agent.text).toContain('# TYPE grapevine_agent_step_duration_seconds histogram');
      console.log(`[metrics] agent ${host.name} at ${metricsUrlOf(host.name)}: ${own.length} samples, ${agent.text.length} bytes, scraped in ${agent.ms.toFixed(1)} ms`);
    }
  });

  it('moves with a good deploy: one more succeeded deploy and duration, a slot wait per host, the hosts succeeded, and the agent its steps and its release', async () => {
    await publish(GOOD_TAG, 'v1');
    const before = await coordinatorSamples();
    const h1Before = await agentSamples('h1');
    const { exitCode, deploy, stderr } = await cluster().deploy('web', 'production', GOOD_TAG);
    expect(exitCode, stderr).toBe(0);
    expect(deploy.status).toBe('succeeded');

    const succeeded = { ...production, status: 'succeeded' };
    const delta = (now: Sample[], name: string, labels: Record<string, string>) => valueOf(now, name, labels) - valueOf(before, name, labels);
    const after = await coordinatorOnceMoved(`deploy ${deploy.id} counted`, (now) => delta(now, 'grapevine_deploys_total', succeeded) >= 1);
    expect(delta(after, 'grapevine_deploys_total', succeeded)).toBe(1);
    expect(delta(after, 'grapevine_deploy_duration_seconds_count', succeeded)).toBe(1);
    const seconds = delta(after, 'grapevine_deploy_duration_seconds_sum', succeeded);
    expect(seconds).toBeCloseTo(((deploy.finishedAt ?? 0) - deploy.createdAt) / 1000, 3);
    // Each of the three hosts took a slot once (k = 1: two of them waited for it).
    const hosts = deploy.targets ?? [];
    expect(hosts).toHaveLength(3);
    expect(delta(after, 'grapevine_slot_wait_seconds_count', production)).toBe(hosts.length);
    const waited = delta(after, 'grapevine_slot_wait_seconds_sum', production);
    expect(waited).toBeGreaterThan(0);
    expect(valueOf(after, 'grapevine_hosts', { ...production, state: 'succeeded' })).toBe(3);
    expect(valueOf(after, 'grapevine_hosts', { ...production, state: 'deploying' })).toBe(0);
    console.log(`[metrics] deploy ${deploy.id}: ${seconds.toFixed(2)} s by grapevine_deploy_duration_seconds; ${waited.toFixed(2)} s waited for slots in all by grapevine_slot_wait_seconds (${hosts.length} hosts)`);

    const h1After = await until('h1 to count its part', async () => {
      const now = await agentSamples('h1');
      return stepCount(now, 'release') > stepCount(h1Before, 'release') ? now : undefined;
    }, { timeoutMs: MOVE_TIMEOUT_MS, intervalMs: 200 });
    for (const step of ['received', 'slot', 'drain', 'pull', 'up', 'health', 'register', 'release']) {
      expect(stepCount(h1After, step) - stepCount(h1Before, step), step).toBe(1);
    }
    expect(releaseTags(h1After, production)).toEqual([GOOD_TAG]);
    expect(lastState(h1After, production)).toEqual(['succeeded']);
    const endedAt = valueOf(h1After, 'grapevine_agent_last_deploy_timestamp_seconds', production);
    expect(endedAt * 1000).toBeGreaterThanOrEqual(deploy.createdAt);
    expect(endedAt * 1000).toBeLessThanOrEqual(deploy.finishedAt ?? Number.NaN);
    const h1 = deploy.hosts.h1;
    const health = valueOf(h1After, 'grapevine_agent_step_duration_seconds_sum', { ...production, step: 'health' }) - valueOf(h1Before, 'grapevine_agent_step_duration_seconds_sum', { ...production, step: 'health' });
    console.log(`[metrics] h1's part: health step ${health.toFixed(2)} s by grapevine_agent_step_duration_seconds; its report's steps ${h1?.steps.map((s) => s.step).join(' ')}`);
    // No lease renewal failed on a healthy cluster.
    expect(valueOf(h1After, 'grapevine_agent_leases_lost_total', production)).toBe(0);
  });

  it("moves with a bad release: one more failed deploy and broken release, and the failing host's last deploy failed while it runs what it ran", async () => {
    await publish(GOOD_TAG, 'v1');
    await publish(BAD_TAG, 'bad');
    // A host that ran nothing keeps the bad container (there is nothing to put back): staging runs a good release first.
    const first = await cluster().deploy('web', 'staging', GOOD_TAG);
    expect(first.exitCode, first.stderr).toBe(0);
    const before = await coordinatorSamples();
    const s1Before = await agentSamples('s1');
    const bad = await cluster().deploy('web', 'staging', BAD_TAG);
    expect(bad.exitCode).toBe(1);
    expect(bad.deploy.status).toBe('failed');

    const failed = { ...staging, status: 'failed' };
    const delta = (now: Sample[], name: string, labels: Record<string, string>) => valueOf(now, name, labels) - valueOf(before, name, labels);
    const after = await coordinatorOnceMoved(`deploy ${bad.deploy.id} counted`, (now) => delta(now, 'grapevine_deploys_total', failed) >= 1 && delta(now, 'grapevine_releases_broken_total', { role: 'web' }) >= 1);
    expect(delta(after, 'grapevine_deploys_total', failed)).toBe(1);
    expect(delta(after, 'grapevine_deploys_total', { ...staging, status: 'succeeded' })).toBe(0);
    expect(delta(after, 'grapevine_deploy_duration_seconds_count', failed)).toBe(1);
    expect(delta(after, 'grapevine_releases_broken_total', { role: 'web' })).toBe(1);
    expect(valueOf(after, 'grapevine_hosts', { ...staging, state: 'failed' })).toBe(1);

    const s1After = await agentSamples('s1');
    expect(lastState(s1After, staging)).toEqual(['failed']);
    // The previous release was put back (staging stays on it for the parts after this one): the info still names it.
    expect(releaseTags(s1Before, staging)).toEqual([GOOD_TAG]);
    expect(releaseTags(s1After, staging)).toEqual([GOOD_TAG]);
    expect(stepCount(s1After, 'health', staging) - stepCount(s1Before, 'health', staging)).toBe(1);
    expect(valueOf(s1After, 'grapevine_agent_last_deploy_timestamp_seconds', staging) * 1000).toBeGreaterThanOrEqual(bad.deploy.createdAt);
  });
}
