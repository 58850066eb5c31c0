// A slot holder dies mid-deploy (`grapevine dev chaos kill-agent`: its agent and Serf agent
// SIGKILLed after it drained) on a 6-host local cluster, while HAProxy's server states are
// sampled every 100 ms: the dead host keeps counting against k until it serves again, so
// no third host drains in its place, and the rollout goes on with one slot and ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deploy } from '../../shared/contract/schemas.js';
import { PRODUCTION, startCluster, type TestCluster } from '../fixtures/cluster.js';
import { until } from '../fixtures/poll.js';
import { faultRow, recordFault } from './fault-table.js';
import { watchService, type ServiceFigures } from './service-watch.js';

/** k = ceil(6/3): the most production hosts a deploy may take out of service at once. */
const K = 2;
const ROLLOUT = { timeoutMs: 240_000, intervalMs: 100 };
const WATCH_MAX_MS = 300_000;

describe('a slot holder killed mid-deploy', () => {
  let fleet: TestCluster;
  const state = () => fleet.state();
  const chaos = (...args: string[]) => fleet.chaos(...args);

  beforeAll(async () => {
    // A slow start keeps each host's deploy in progress long enough to kill it mid-way.
    fleet = await startCluster({ name: 'gvtest-holder', subnet: '10.219.0', production: 6, startDelay: 1.5 });
    const v1 = await fleet.deploy('web', 'production', 'v1');
    expect(v1.deploy.status, v1.stderr).toBe('succeeded');
  });
  afterAll(async () => {
    await fleet?.[Symbol.asyncDispose]();
  });

  it('never more than k out while the dead holder stays out; the deploy ends partial naming it, before its deadline', async () => {
    const client = fleet.cluster.client();
    const watching = watchService({ runtimeSocket: state().runtimeSocket, backend: 'web', servers: PRODUCTION, url: state().lbUrl, maxMs: WATCH_MAX_MS });
    let figures: ServiceFigures | undefined;
    let deploy: Deploy | undefined;
    let victim = '';
    try {
      const started = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'v2', '--json']);
      expect(started.exitCode, started.stderr).toBe(0);
      const id = (JSON.parse(started.stdout) as Deploy).id;
      // A holder that has drained: out of service, and the slot is its.
      victim = await until(`a host of ${id} holding a slot and drained`, async () => {
        const current = await client.getDeploy(id);
        const holder = Object.values(current.hosts).find((host) => host.state === 'deploying' && host.steps.some((s) => s.step === 'drain'));
        return holder?.host;
      }, ROLLOUT);
      await chaos('kill-agent', victim);
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
    if (deploy.deadlineAt !== undefined) expect(deploy.finishedAt).toBeLessThan(deploy.deadlineAt);

    // The host's agent comes back; putting it back in service (in HAProxy, and out of the
    // group's out-of-service set) is the agent's own reconcile, within one round.
    await chaos('restart-agent', victim);
    const backAfterMs = await fleet.untilAllInService('production');
    console.log(`slot holder: ${victim} back in service ${(backAfterMs / 1000).toFixed(1)} s after its agent restarted`);
  });
});
