// A bad release stops itself, an engineer can stop any rollout, staging guards production,
// and every deploy ends (test/e2e/safety.test.ts has the cluster).
import { beforeAll, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, answersFrom, maxConcurrentDeploying, type TestCluster } from '../../fixtures/cluster.js';
import { endedDeploy } from '../../fixtures/wait-output.js';
import { until } from '../../fixtures/poll.js';

const stepAt = (deploy: Deploy, host: string, step: string) => deploy.hosts[host]?.steps.find((s) => s.step === step)?.at;
/** A rollout over six hosts with slow starts takes minutes, not seconds. */
const ROLLOUT = { timeoutMs: 120_000 };

export function stopChecks(cluster: () => TestCluster): void {
  let fleet: TestCluster;
  const client = () => fleet.cluster.client();
  const ended = (id: string) => until(`deploy ${id} to end`, async () => {
    const deploy = await client().getDeploy(id);
    return deploy.status === 'in_progress' ? undefined : deploy;
  }, ROLLOUT);
  const startDeploy = async (tag: string): Promise<string> => {
    const started = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', tag, '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    return (JSON.parse(started.stdout) as Deploy).id;
  };

  /**
   * Each test's own precondition: every production host serves `tag` through the load
   * balancer, deployed first if it does not already, so any one test passes alone.
   */
  const productionServes = async (tag: string): Promise<void> => {
    const expected = answersFrom(tag, PRODUCTION);
    const serving = await fleet.lbAnswers(18);
    if (serving.size === expected.size && [...serving].every((answer) => expected.has(answer))) return;
    const deployed = await fleet.deploy('web', 'production', tag);
    expect(deployed.deploy.status, deployed.stderr).toBe('succeeded');
    expect(await fleet.lbAnswers(18)).toEqual(expected);
  };

  beforeAll(async () => {
    fleet = cluster();
    // v1 first, whatever the other part left: the rollback below goes back from v2 to it.
    const v1 = await fleet.deploy('web', 'production', 'v1');
    expect(v1.deploy.status, v1.stderr).toBe('succeeded');
  });

  it('promotes a successful staging deploy to production by itself', async () => {
    const staging = await fleet.deploy('web', 'staging', 'v2');
    expect(staging.exitCode, staging.stderr).toBe(0);
    expect(staging.deploy.status).toBe('succeeded');
    const promotedId = await until('the promotion to be recorded', async () => (await client().getDeploy(staging.deploy.id)).promotedTo, ROLLOUT);
    const production = await ended(promotedId);
    expect(production).toMatchObject({ env: 'production', tag: 'v2', status: 'succeeded', promotedFrom: staging.deploy.id });
    expect(maxConcurrentDeploying(production)).toBeLessThanOrEqual(2);
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v2', PRODUCTION));
  });

  it('rolls production back from v2 to v1', async () => {
    await productionServes('v2');
    const rollback = await fleet.cli(['rollback', 'web', '--env', 'production', '--wait', '--json']);
    expect(rollback.exitCode, rollback.stderr).toBe(0);
    expect(endedDeploy(rollback.stdout)).toMatchObject({ tag: 'v1', status: 'succeeded', rollbackOf: 'v2' });
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v1', PRODUCTION));
  });

  it('stops a release whose health check fails after at most two hosts started it', async () => {
    await productionServes('v2');

    const bad = await fleet.deploy('web', 'production', 'bad');
    expect(bad.exitCode).toBe(1);
    expect(bad.deploy.status).toBe('failed');
    // Unhealthy verdicts before the health gate's deadline fail nothing: the deadline does, naming Docker's last verdict.
    expect(bad.deploy.reason).toMatch(/health: container \w+ was not healthy within [\d.]+ s; last verdict: Docker's check unhealthy \(.*404/);
    const hosts = Object.values(bad.deploy.hosts);
    expect(hosts.filter((h) => h.steps.some((s) => s.step === 'up')).length).toBeLessThanOrEqual(2);
    expect(hosts.filter((h) => h.state === 'failed').length).toBeGreaterThanOrEqual(1);
    expect(hosts.filter((h) => h.state === 'cancelled').length).toBeGreaterThanOrEqual(4);
    expect(hosts.every((h) => h.state === 'failed' || h.state === 'cancelled')).toBe(true);
    // The hosts that tried it put v2 back, the others never left it.
    expect(await fleet.lbAnswers(24)).toEqual(answersFrom('v2', PRODUCTION));

    for (const env of ['production', 'staging']) {
      const again = await fleet.cli(['deploy', 'web', '--env', env, '--tag', 'bad']);
      expect(again.exitCode).toBe(2);
      expect(again.stderr).toMatch(/web:bad is marked broken/);
    }
  });

  it('promotes nothing when the staging deploy fails', async () => {
    await productionServes('v2');
    const before = (await client().listDeploys({ role: 'web', env: 'production' }))[0]!.id;
    const badImage = `${fleet.cluster.state.registry}/web:bad`;
    expect((await fleet.cli(['release', 'publish', 'web', 'bad2', '--image', badImage])).exitCode).toBe(0);
    const staging = await fleet.deploy('web', 'staging', 'bad2');
    expect(staging.exitCode).toBe(1);
    expect(staging.deploy.status).toBe('failed');
    expect(staging.deploy.promotedTo).toBeUndefined();
    expect((await client().listDeploys({ role: 'web', env: 'production' }))[0]!.id).toBe(before);
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v2', PRODUCTION));
  });

  it('stops a rollout an engineer marks broken: no host starts it afterwards', async () => {
    await productionServes('v2');
    const v1Image = `${fleet.cluster.state.registry}/web:v1`;
    expect((await fleet.cli(['release', 'publish', 'web', 'v3', '--image', v1Image])).exitCode).toBe(0);
    const id = await startDeploy('v3');
    // Mid-rollout: a host is deploying v3 (its slot is reported at once; its later steps come with its next report).
    await until('a host to be deploying v3', async () => {
      const deploy = await client().getDeploy(id);
      return Object.values(deploy.hosts).some((h) => h.state === 'deploying') ? true : undefined;
    }, ROLLOUT);
    const marked = await fleet.cli(['mark-broken', 'web', 'v3', '--reason', 'error rate doubled']);
    const markedAt = Date.now();
    expect(marked.exitCode, marked.stderr).toBe(0);

    const deploy = await ended(id);
    expect(deploy.status).toBe('cancelled');
    for (const host of PRODUCTION) {
      const up = stepAt(deploy, host, 'up');
      if (up !== undefined) expect(up).toBeLessThan(markedAt);
    }
    expect(Object.values(deploy.hosts).filter((h) => h.state === 'cancelled').length).toBeGreaterThanOrEqual(4);
    expect((await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'v3'])).exitCode).toBe(2);
    // Whatever had not finished v3 went back to v2; v3 (the v1 image) was never registered after the mark.
    const answers = await fleet.lbAnswers(24);
    expect([...answers].filter((a) => !a.startsWith('200 v2 ') && !a.startsWith('200 v1 '))).toEqual([]);
    expect(new Set([...answers].map((a) => a.split(' ')[2]))).toEqual(new Set(PRODUCTION));
  });

  // Brings the host it kills back before it ends, so the cluster serves the other part on six hosts.
  it('counts a host that dies holding a slot as lost and finishes with the rest', async () => {
    await productionServes('v2');
    const v1Image = `${fleet.cluster.state.registry}/web:v1`;
    expect((await fleet.cli(['release', 'publish', 'web', 'v4', '--image', v1Image])).exitCode).toBe(0);
    const id = await startDeploy('v4');
    const victim = await until('a host to hold a slot', async () => {
      const deploy = await client().getDeploy(id);
      return Object.values(deploy.hosts).find((h) => h.steps.some((s) => s.step === 'slot') && !h.steps.some((s) => s.step === 'release'))?.host;
    }, ROLLOUT);
    const host = fleet.cluster.state.hosts.find((h) => h.name === victim)!;
    const serfPid = Number(readFileSync(join(host.dir, 'serf', 'serf.pid'), 'utf8'));
    process.kill(host.agent.pid, 'SIGKILL');
    process.kill(serfPid, 'SIGKILL');

    const deploy = await ended(id);
    expect(deploy.status).toBe('partial');
    expect(deploy.reason).toContain(victim);
    expect(deploy.hosts[victim]?.state).toBe('lost');
    const others = Object.values(deploy.hosts).filter((h) => h.host !== victim);
    expect(others.map((h) => h.state)).toEqual(others.map(() => 'succeeded'));
    expect(others).toHaveLength(5);
    // Counted out because Serf saw the host fail: only the coordinator's watchdog writes a
    // `lost` report (the host still counts against k).
    expect(deploy.hosts[victim]?.error).toMatch(/^Serf (reports the host (failed|left)|no longer lists the host)$/);
    const status = await fleet.cli(['status', id]);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toContain('partial');

    await fleet.chaos('restart-agent', victim);
    await until(`${victim} to receive the cluster's events again`, async () => (await fleet.serfEventTime(victim)) >= (await fleet.serfEventTime()) ? true : undefined, { timeoutMs: 60_000, intervalMs: 500 });
    await fleet.untilAllInService('production');
  });
}
