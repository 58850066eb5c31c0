// Canary with automated analysis (README, "Canary"), on the strategies cluster's 6 production
// hosts (a canary set of 2, steps of 25 % and 50 % for 8 s each, judged per second) under a
// bounded stream of real requests through HAProxy: v2 passes every step and reaches every host;
// v3-errors (healthy, but answers 5xx on about 30 % of requests) is judged failing on the canary
// set alone, ends `failed` with the analysis as its reason, is refused after, and its canary
// hosts go back to the tag they ran.
import { expect, it } from 'vitest';
import { startTraffic, type TrafficStream } from '../../../dev-cluster/traffic.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, answersFrom, type TestCluster } from '../../fixtures/cluster.js';
import { servingOneTag } from './serving.js';
import { until } from '../../fixtures/poll.js';
import { endedDeploy } from '../../fixtures/wait-output.js';

const RATE_PER_SECOND = 40;
/** Longer than any canary here: the stream stops by itself if a case fails before stopping it. */
const TRAFFIC_MS = 120_000;

export function canaryChecks(cluster: () => TestCluster): void {
  const servingGoodTag = async () => {
    const tag = await servingOneTag(cluster(), 'production', PRODUCTION.length);
    await cluster().untilAllInService('production');
    return tag;
  };

  function traffic(): TrafficStream {
    return startTraffic({ url: cluster().state().lbUrl, ratePerSecond: RATE_PER_SECOND, durationMs: TRAFFIC_MS, timeoutMs: 5_000 });
  }

  async function canaryDeploy(tag: string): Promise<{ exitCode: number; stderr: string; deploy: Deploy }> {
    const result = await cluster().cli(['deploy', 'web', '--env', 'production', '--tag', tag, '--strategy', 'canary', '--wait', '--json']);
    return { exitCode: result.exitCode, stderr: result.stderr, deploy: endedDeploy(result.stdout) };
  }

  it('v2 passes every step of its analysis and reaches every host, with no request failed', async () => {
    await servingGoodTag();
    const stream = traffic();
    let deploy: Deploy;
    try {
      const result = await canaryDeploy('v2');
      expect(result.exitCode, `${result.stderr} ${result.deploy.reason ?? ''}`).toBe(0);
      deploy = result.deploy;
    } finally {
      const seen = await stream.stop();
      console.log(`canary v2: ${seen.answered} answers, ${seen.failed} failed, p50 ${seen.ms?.p50 ?? '-'} ms`);
      expect(seen.failed, JSON.stringify(seen.failures)).toBe(0);
    }
    expect(deploy.status).toBe('succeeded');
    expect(deploy.strategy?.phase).toBe('rollout');
    expect(deploy.strategy?.canaryHosts).toHaveLength(2);
    expect(deploy.strategy?.steps.map((step) => step.analysis?.verdict)).toEqual(['pass', 'pass']);
    expect(Object.values(deploy.hosts).filter((host) => host.state === 'succeeded')).toHaveLength(PRODUCTION.length);

    const report = await cluster().cli(['canary', 'report', deploy.id]);
    expect(report.exitCode, report.stderr).toBe(0);
    console.log(report.stdout);
    expect(report.stdout).toMatch(/errors .*pass/);
    expect(report.stdout).toMatch(/latency .*pass/);
    await until('every production host to answer v2 at full weight', async () => {
      const answers = await cluster().lbAnswers(30, 'production');
      return [...answersFrom('v2', PRODUCTION)].every((answer) => answers.has(answer)) || undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
  });

  it('v3-errors is judged failing on the canary set alone, ends failed with the analysis as its reason, is refused after, and its canary hosts go back', async () => {
    const before = await servingGoodTag();
    const stream = traffic();
    let result;
    try {
      result = await canaryDeploy('v3-errors');
    } finally {
      await stream.stop();
    }
    const { deploy } = result;
    expect(result.exitCode).toBe(1);
    expect(deploy.status).toBe('failed');
    expect(deploy.reason).toMatch(/^canary analysis failed at step 1 \(25 % of traffic\): score \d+\/100 \(fail\): errors canary/);
    const canary = deploy.strategy?.canaryHosts ?? [];
    expect(canary).toHaveLength(2);
    // Only the canary set ever took a slot: every other host stood down from the gate.
    for (const host of PRODUCTION) {
      const report = deploy.hosts[host];
      if (canary.includes(host)) expect(report?.state, host).toBe('succeeded');
      else {
        expect(report?.state, host).toBe('cancelled');
        expect(report?.steps.map((step) => step.step), host).not.toContain('slot');
      }
    }
    // The answers v3-errors gave came from the canary set only.
    const fromV3 = Object.keys(stream.summary().byBody).filter((body) => body.startsWith('v3-errors '));
    expect(fromV3.length).toBeGreaterThan(0);
    for (const body of fromV3) expect(canary).toContain(body.split(' ')[1]);

    const report = await cluster().cli(['canary', 'report', deploy.id, '--json']);
    expect(report.exitCode).toBe(1);
    const errors = (JSON.parse(report.stdout) as { strategy: Deploy['strategy'] }).strategy?.steps[0]?.analysis?.metrics.find((metric) => metric.metric === 'errors');
    expect(errors?.verdict).toBe('fail');
    expect(errors?.pValue).toBeLessThan(0.05);
    console.log(`canary v3-errors: errors baseline ${errors?.baseline} canary ${errors?.canary} p=${errors?.pValue}`);

    const again = await cluster().cli(['deploy', 'web', '--env', 'production', '--tag', 'v3-errors']);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/broken.*canary analysis failed/);

    // The quarantine's rollback brings the canary hosts back to what they ran, through the slots.
    const rollback = await until('the canary hosts rolled back', async () => {
      const { stdout } = await cluster().cli(['status', '--json']);
      const deploys = JSON.parse(stdout) as Deploy[];
      const found = deploys.find((each) => each.rollbackOf === 'v3-errors' && each.createdAt >= deploy.createdAt);
      return found?.status === 'succeeded' ? found : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    expect(rollback.tag).toBe(before);
    expect([...(rollback.targets ?? [])].sort()).toEqual([...canary].sort());
    expect(rollback.startedBy).toBe('coordinator');
    await cluster().untilAllInService('production');
    const answers = await cluster().lbAnswers(40, 'production');
    expect([...answers].every((answer) => answer.startsWith(`200 ${before} `)), [...answers].join(', ')).toBe(true);
  });
}
