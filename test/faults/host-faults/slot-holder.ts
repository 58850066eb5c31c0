// A slot holder dies mid-deploy (`grapevine dev chaos kill-agent`: its agent and Serf agent
// SIGKILLed after it drained), while HAProxy's server states are sampled every 100 ms: the
// dead host keeps counting against k until it serves again, so no third host drains in its
// place; the rollout goes on with one slot and ends partial, the host counted lost because
// Serf saw it fail, as `grapevine status` shows.
import { expect, it } from 'vitest';
import { Chaos } from '../../../dev-cluster/chaos.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';
import { faultRow, recordFault } from '../fault-table.js';
import { watchService, type ServiceFigures } from '../service-watch.js';
import { nextRollout } from './settled-group.js';

/** k = ceil(6/3): the most production hosts a deploy may take out of service at once. */
const K = 2;
const ROLLOUT = { timeoutMs: 240_000, intervalMs: 100 };
const WATCH_MAX_MS = 300_000;

export function slotHolderChecks(cluster: () => TestCluster): void {
  it('never more than k out while the dead holder stays out; the deploy ends partial naming it, before its deadline', async () => {
    const fleet = cluster();
    const state = () => fleet.state();
    const client = fleet.cluster.client();
    const { to } = await nextRollout(fleet);
    const watching = watchService({ runtimeSocket: state().runtimeSocket, backend: 'web', servers: PRODUCTION, url: state().lbUrl, maxMs: WATCH_MAX_MS });
    let figures: ServiceFigures | undefined;
    let deploy: Deploy | undefined;
    let victim = '';
    try {
      const started = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', to, '--json']);
      expect(started.exitCode, started.stderr).toBe(0);
      const id = (JSON.parse(started.stdout) as Deploy).id;
      // A holder that has drained: out of service, and the slot is its. A host reports `pull`
      // once its drain is done (`drain` comes before it drains).
      victim = await until(`a host of ${id} holding a slot and drained`, async () => {
        const current = await client.getDeploy(id);
        const holder = Object.values(current.hosts).find((host) => host.state === 'deploying' && host.steps.some((s) => s.step === 'pull'));
        return holder?.host;
      }, ROLLOUT);
      // dev chaos's own kill-agent, called in this process: the CLI's start-up on a busy machine
      // could let the host finish its deploy before it is killed.
      await new Chaos(state().dir).killAgent(victim);
      deploy = await until(`deploy ${id} to end`, async () => {
        const current = await client.getDeploy(id);
        return current.status === 'in_progress' ? undefined : current;
      }, ROLLOUT);
    } finally {
      figures = await watching.stop();
      recordFault(faultRow(`kill -9 of a slot holder's agent and Serf agent (${victim || '-'}), mid-rollout`, K, figures, deploy));
    }
    expect(figures.samples).toBeGreaterThan(0);
    expect(figures.mostOut).toBeLessThanOrEqual(K);
    expect(deploy.status).toBe('partial');
    expect(deploy.reason).toContain(victim);
    expect(deploy.hosts[victim]?.state).toBe('lost');
    for (const host of PRODUCTION.filter((h) => h !== victim)) expect(deploy.hosts[host]?.state, host).toBe('succeeded');
    const others = Object.values(deploy.hosts).filter((h) => h.host !== victim);
    expect(others.map((h) => h.state)).toEqual(others.map(() => 'succeeded'));
    expect(others).toHaveLength(5);
    if (deploy.deadlineAt !== undefined) expect(deploy.finishedAt).toBeLessThan(deploy.deadlineAt);
    // Counted out because Serf saw the host fail: only the coordinator's watchdog writes a
    // `lost` report (the host still counts against k).
    expect(deploy.hosts[victim]?.error).toMatch(/^Serf (reports the host (failed|left)|no longer lists the host)$/);
    const status = await fleet.cli(['status', deploy.id]);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toContain('partial');

    // The host's agent comes back; putting it back in service (in HAProxy, and out of the
    // group's out-of-service set) is the agent's own reconcile, within one round.
    await fleet.chaos('restart-agent', victim);
    const backAfterMs = await fleet.untilAllInService('production');
    console.log(`slot holder: ${victim} back in service ${(backAfterMs / 1000).toFixed(1)} s after its agent restarted`);
  });
}
