// The once-per-deploy job (test/e2e/hooks-and-job.test.ts has the cluster, 6 production hosts):
// the sample app's `migrate` service appends one line per run to the cluster's jobs/runs.log
// (deploy id, tag, host, ms) and exits 1 for the tag `bad`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { Chaos } from '../../../dev-cluster/chaos.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, answersFrom, type TestCluster } from '../../fixtures/cluster.js';
import { endedDeploy } from '../../fixtures/wait-output.js';
import { until } from '../../fixtures/poll.js';

const ROLLOUT = { timeoutMs: 180_000, intervalMs: 250 };
/**
 * The job's length (hooks-and-job.test.ts starts the cluster with it). Long enough to find
 * the host running the job and kill it mid-run: the kill lands within a
 * poll (100 ms) of the coordinator showing the job running, which the host reports before it
 * pulls the image and starts the job's container.
 */
export const JOB_SECONDS = 2;

export function jobChecks(cluster: () => TestCluster): void {
  let fleet: TestCluster;
  let v1: Deploy;
  const client = () => fleet.cluster.client();
  const runsOf = (id: string): Array<{ tag: string; host: string; at: number }> => {
    const file = join(fleet.cluster.state.dir, 'jobs', 'runs.log');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([deployId]) => deployId === id)
      .map(([, tag, host, at]) => ({ tag: tag ?? '', host: host ?? '', at: Number(at) }));
  };
  const upTimes = (deploy: Deploy) => PRODUCTION.map((host) => ({ host, at: deploy.hosts[host]?.steps.find((s) => s.step === 'up')?.at }));
  const ended = (id: string) => until(`deploy ${id} to end`, async () => {
    const deploy = await client().getDeploy(id);
    return deploy.status === 'in_progress' ? undefined : deploy;
  }, ROLLOUT);

  beforeAll(async () => {
    fleet = cluster();
    const deployed = await fleet.deploy('web', 'production', 'v1');
    expect(deployed.deploy.status, deployed.stderr).toBe('succeeded');
    v1 = deployed.deploy;
  });

  it('runs exactly once per deploy, on one host, and ends before any host starts the new version', async () => {
    for (const deploy of [v1, (await fleet.deploy('web', 'production', 'v2')).deploy]) {
      expect(deploy.status, deploy.reason).toBe('succeeded');
      const runs = runsOf(deploy.id);
      expect(runs).toHaveLength(1);
      expect(deploy.job).toMatchObject({ service: 'migrate', state: 'succeeded', attempt: 1, exitCode: 0, host: runs[0]?.host });
      expect(deploy.job?.output).toContain(`migrated for ${deploy.tag}`);
      const jobEnded = deploy.job?.endedAt ?? Number.POSITIVE_INFINITY;
      const firstUp = Math.min(...upTimes(deploy).map(({ at }) => at ?? Number.POSITIVE_INFINITY));
      console.log(`[job] ${deploy.id}: job on ${deploy.job?.host} took ${jobEnded - (deploy.job?.startedAt ?? 0)} ms; first up ${firstUp - jobEnded} ms after it ended`);
      for (const { host, at } of upTimes(deploy)) {
        expect(at, `${host} has an up step`).toBeDefined();
        expect(at! >= jobEnded, `${host} started the new version at ${at}, the job ended at ${jobEnded}`).toBe(true);
        expect(at! >= runs[0]!.at, `${host} started before the job wrote its line`).toBe(true);
      }
    }
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v2', PRODUCTION));
    const status = await fleet.cli(['status', v1.id]);
    expect(status.stdout).toMatch(/job\s+migrate succeeded on h\d/);
  });

  it('a failing job leaves every host on the old version and the deploy fails naming the job', async () => {
    const bad = await fleet.deploy('web', 'production', 'bad');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.deploy.status).toBe('failed');
    expect(bad.deploy.reason).toMatch(/job migrate failed: exited with code 1: migrated for bad/);
    expect(runsOf(bad.deploy.id)).toHaveLength(1);
    expect(bad.deploy.job).toMatchObject({ state: 'failed', exitCode: 1 });
    // No host took a slot, let alone started `bad`.
    for (const report of Object.values(bad.deploy.hosts)) {
      expect(report.steps.map((s) => s.step)).not.toContain('slot');
      expect(['failed', 'cancelled']).toContain(report.state);
    }
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v2', PRODUCTION));
    const releases = await client().listReleases('web');
    expect(releases.find((r) => r.tag === 'bad')?.broken?.reason).toMatch(/job migrate failed/);
  });

  it('a rollback does not run the job; a rollback with --run-job does', async () => {
    // Wanted now: bad (failed); the rollback deploys v2, the newest release that succeeded.
    const plain = await fleet.cli(['rollback', 'web', '--env', 'production', '--wait', '--json']);
    const back = endedDeploy(plain.stdout);
    expect(back, plain.stderr).toMatchObject({ tag: 'v2', status: 'succeeded', runJob: false });
    expect(back.job).toBeUndefined();
    expect(runsOf(back.id)).toEqual([]);
    const withJob = await fleet.cli(['rollback', 'web', '--env', 'production', '--run-job', '--wait', '--json']);
    const again = endedDeploy(withJob.stdout);
    expect(again, withJob.stderr).toMatchObject({ tag: 'v1', status: 'succeeded', runJob: true, job: { state: 'succeeded' } });
    expect(runsOf(again.id)).toHaveLength(1);
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v1', PRODUCTION));
  });

  it('killing the host that runs the job still ends the deploy: another host takes the job over', async () => {
    const started = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'v2', '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    const id = (JSON.parse(started.stdout) as Deploy).id;
    const runner = await until('a host to report it runs the job', async () => {
      const job = (await client().getDeploy(id)).job;
      return job?.state === 'running' ? job.host : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    // dev chaos's own kill-agent, called in this process: the CLI's start-up on a busy machine
    // could let the job end before the host is killed.
    await new Chaos(fleet.state().dir).killAgent(runner);
    const deploy = await ended(id);
    // The killed host never reports; the deploy ends once the others did and it is counted lost.
    expect(deploy.status, deploy.reason).toBe('partial');
    expect(deploy.reason).toContain(`hosts lost: ${runner}`);
    expect(deploy.job).toMatchObject({ state: 'succeeded', attempt: 2 });
    expect(deploy.job?.host).not.toBe(runner);
    for (const host of PRODUCTION.filter((h) => h !== runner)) expect(deploy.hosts[host]?.state, host).toBe('succeeded');
    const runs = runsOf(id);
    console.log(`[job] killed ${runner} mid-job; ${deploy.job?.host} took the job over ${(deploy.job?.startedAt ?? 0) - Math.min(...runs.map((r) => r.at))} ms after the first run wrote its line; runs: ${runs.map((r) => r.host).join(', ')}; deploy ${deploy.status} in ${(deploy.finishedAt ?? 0) - deploy.createdAt} ms`);
    // The killed host's own job container ran on without it: a crash can run the job twice (it must be idempotent).
    expect(runsOf(id).length).toBeGreaterThanOrEqual(1);
    await fleet.chaos('restart-agent', runner);
    // Back in the cluster before the case ends, so the other part deploys to six hosts.
    await until(`${runner} to receive the cluster's events again`, async () => (await fleet.serfEventTime(runner)) >= (await fleet.serfEventTime()) ? true : undefined, { timeoutMs: 60_000, intervalMs: 500 });
    await fleet.untilAllInService('production');
  });
}
