// Every host converges: on a 6-host local cluster, a host whose agent and Serf agent were
// down through a whole rollout catches up to it through the slots once its agent is back,
// while HAProxy's server states are sampled every 100 ms and ~20 requests a second go
// through it; the catch-up shows in `grapevine status`. A host behind a release marked
// broken does not catch up to it.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deploy } from '../../shared/contract/schemas.js';
import { PRODUCTION, startCluster, type TestCluster } from '../fixtures/cluster.js';
import { until } from '../fixtures/poll.js';
import { faultRow, recordFault } from './fault-table.js';
import { watchService, type ServiceFigures } from './service-watch.js';

/** k = ceil(6/3). */
const K = 2;
const BEHIND = 'h6';
/** The promise: a host back after missing a rollout runs it and serves within 60 s. */
const CAUGHT_UP_MS = 60_000;
const WATCH_MAX_MS = 180_000;
const POLL = { intervalMs: 250 };

describe('a host that missed a rollout catches up', () => {
  let fleet: TestCluster;
  const chaos = (...args: string[]) => fleet.chaos(...args);
  const client = () => fleet.cluster.client();
  const agentLog = () => join(fleet.state().hosts.find((h) => h.name === BEHIND)!.dir, 'agent.log');

  beforeAll(async () => {
    fleet = await startCluster({ name: 'gvtest-catchup', subnet: '10.221.0', production: 6 });
    const v1 = await fleet.deploy('web', 'production', 'v1');
    expect(v1.deploy.status, v1.stderr).toBe('succeeded');
  });
  afterAll(async () => {
    await fleet?.[Symbol.asyncDispose]();
  });

  it(`${BEHIND}, down through the v2 rollout, runs v2 and serves within 60 s of its agent's restart, through a slot; status shows the catch-up`, async () => {
    // Watched from the kill on: the rollout without h6 and its catch-up together stay within k.
    const watching = watchService({ runtimeSocket: fleet.state().runtimeSocket, backend: 'web', servers: PRODUCTION, url: fleet.state().lbUrl, maxMs: WATCH_MAX_MS });
    let figures: ServiceFigures | undefined;
    let catchUp: Deploy | undefined;
    let seconds = Number.NaN;
    try {
      await chaos('kill-agent', BEHIND);
      const v2 = await fleet.deploy('web', 'production', 'v2');
      // The coordinator may still have seen it alive (a target, then lost) or not (no target).
      expect(['succeeded', 'partial'], v2.stderr).toContain(v2.deploy.status);
      expect(v2.deploy.hosts[BEHIND]?.state ?? 'not a target').not.toBe('succeeded');
      expect(await fleet.lbAnswers(12)).toContain(`200 v1 ${BEHIND}`);

      await chaos('restart-agent', BEHIND);
      const restartedAt = Date.now();
      await until(`HAProxy to answer v2 from ${BEHIND}`, async () => ((await fleet.lbAnswers(12)).has(`200 v2 ${BEHIND}`) ? true : undefined), {
        timeoutMs: CAUGHT_UP_MS,
        ...POLL,
      });
      seconds = (Date.now() - restartedAt) / 1000;
      catchUp = await until(`the catch-up of ${BEHIND} to end`, async () => {
        const found = (await client().listDeploys({ role: 'web', env: 'production' })).find((d) => d.catchUpOf !== undefined && d.targets?.includes(BEHIND));
        return found && found.status !== 'in_progress' ? found : undefined;
      }, { timeoutMs: CAUGHT_UP_MS, ...POLL });
    } finally {
      figures = await watching.stop();
      recordFault(faultRow(`agent of ${BEHIND} killed, a rollout without it, agent restarted: its catch-up (served v2 ${seconds.toFixed(1)} s after the restart)`, K, figures, catchUp));
    }
    expect(catchUp).toMatchObject({ status: 'succeeded', tag: 'v2', targets: [BEHIND], slots: K });
    expect(catchUp.hosts[BEHIND]?.steps.map((s) => s.step)).toContain('slot');
    expect(figures.samples).toBeGreaterThan(0);
    expect(figures.mostOut).toBeLessThanOrEqual(K);
    expect(figures.requestsFailed).toBe(0);

    const status = await fleet.cli(['status']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain(`catch-up of ${BEHIND} to v2`);
    const one = await fleet.cli(['status', catchUp.id]);
    expect(one.stdout).toContain(`catch-up of ${BEHIND} to v2`);
    expect(await fleet.lbAnswers(24)).toEqual(new Set(PRODUCTION.map((h) => `200 v2 ${h}`)));
    await fleet.untilAllInService('production');
  });

  it(`${BEHIND}, behind a release marked broken while it was down, does not catch up to it`, async () => {
    // v3 is the v1 image under a new tag: a release the sample app can run.
    const v1Image = (await client().listReleases('web')).find((r) => r.tag === 'v1')!.image;
    const published = await fleet.cli(['release', 'publish', 'web', 'v3', '--image', v1Image]);
    expect(published.exitCode, published.stderr).toBe(0);
    await chaos('kill-agent', BEHIND);
    const v3 = await fleet.deploy('web', 'production', 'v3');
    expect(['succeeded', 'partial'], v3.stderr).toContain(v3.deploy.status);
    const marked = await fleet.cli(['mark-broken', 'web', 'v3', '--reason', 'found bad after its rollout']);
    expect(marked.exitCode, marked.stderr).toBe(0);

    const logFrom = statSync(agentLog()).size;
    await chaos('restart-agent', BEHIND);
    // The agent asks, and says in its log that it was refused; it does not ask every round.
    await until(`${BEHIND}'s agent to log the refused catch-up`, async () => {
      const lines = readFileSync(agentLog(), 'utf8').slice(logFrom).split('\n');
      return lines.some((line) => line.includes('catch-up refused') && line.includes('release_broken')) ? true : undefined;
    }, { timeoutMs: CAUGHT_UP_MS, ...POLL });

    const deploys = await client().listDeploys({ role: 'web', env: 'production' });
    expect(deploys.filter((d) => d.catchUpOf === v3.deploy.id)).toEqual([]);
    expect(await fleet.lbAnswers(24)).toContain(`200 v2 ${BEHIND}`);
    await fleet.untilAllInService('production');
  });
});
