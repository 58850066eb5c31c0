// Every host converges: a host whose agent and Serf agent were down through a whole rollout
// catches up to it through the slots once its agent is back, while HAProxy's server states are
// sampled every 100 ms and ~20 requests a second go through it; the catch-up shows in
// `grapevine status`. A host behind a release marked broken does not catch up to it.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';
import { faultRow, recordFault } from '../fault-table.js';
import { watchService, type ServiceFigures } from '../service-watch.js';
import { nextRollout } from './settled-group.js';

/** k = ceil(6/3). */
const K = 2;
const BEHIND = 'h6';
/** The promise: a host back after missing a rollout runs it and serves within 60 s. */
const CAUGHT_UP_MS = 60_000;
const WATCH_MAX_MS = 180_000;
const POLL = { intervalMs: 250 };

export function catchUpChecks(cluster: () => TestCluster): void {
  /** What the first check rolled out, and BEHIND caught up to: the second leaves BEHIND on it. */
  let caughtUpTo = '';
  const chaos = (...args: string[]) => cluster().chaos(...args);
  const client = () => cluster().cluster.client();
  const agentLog = () => join(cluster().state().hosts.find((h) => h.name === BEHIND)!.dir, 'agent.log');

  it(`${BEHIND}, down through a rollout, runs its release and serves within 60 s of its agent's restart, through a slot; status shows the catch-up`, async () => {
    const fleet = cluster();
    const { from, to } = await nextRollout(fleet);
    // Watched from the kill on: the rollout without h6 and its catch-up together stay within k.
    const watching = watchService({ runtimeSocket: fleet.state().runtimeSocket, backend: 'web', servers: PRODUCTION, url: fleet.state().lbUrl, maxMs: WATCH_MAX_MS });
    let figures: ServiceFigures | undefined;
    let catchUp: Deploy | undefined;
    let seconds = Number.NaN;
    let agentDown = false;
    try {
      await chaos('kill-agent', BEHIND);
      agentDown = true;
      const rollout = await fleet.deploy('web', 'production', to);
      // The coordinator may still have seen it alive (a target, then lost) or not (no target).
      expect(['succeeded', 'partial'], rollout.stderr).toContain(rollout.deploy.status);
      expect(rollout.deploy.hosts[BEHIND]?.state ?? 'not a target').not.toBe('succeeded');
      // Four requests a host, as nextRollout asks: once in CI none of 12 came from h6 right
      // after the rollout re-registered the other five (its cause was not found).
      expect(await fleet.lbAnswers(PRODUCTION.length * 4)).toContain(`200 ${from} ${BEHIND}`);

      await chaos('restart-agent', BEHIND);
      agentDown = false;
      const restartedAt = Date.now();
      await until(`HAProxy to answer ${to} from ${BEHIND}`, async () => ((await fleet.lbAnswers(12)).has(`200 ${to} ${BEHIND}`) ? true : undefined), {
        timeoutMs: CAUGHT_UP_MS,
        ...POLL,
      });
      seconds = (Date.now() - restartedAt) / 1000;
      catchUp = await until(`the catch-up of ${BEHIND} to end`, async () => {
        const found = (await client().listDeploys({ role: 'web', env: 'production' })).find((d) => d.catchUpOf === rollout.deploy.id && d.targets?.includes(BEHIND));
        // The list holds summaries: the whole deploy, with its host's report, is read once it ended.
        return found && found.status !== 'in_progress' ? client().getDeploy(found.id) : undefined;
      }, { timeoutMs: CAUGHT_UP_MS, ...POLL });
    } finally {
      // A check that failed before the restart leaves no dead agent behind for the cases after it.
      if (agentDown) await chaos('restart-agent', BEHIND).catch(() => undefined);
      figures = await watching.stop();
      recordFault(faultRow(`agent of ${BEHIND} killed, a rollout without it, agent restarted: its catch-up (served ${to} ${seconds.toFixed(1)} s after the restart)`, K, figures, catchUp));
    }
    expect(catchUp).toMatchObject({ status: 'succeeded', tag: to, targets: [BEHIND], slots: K });
    expect(catchUp.hosts[BEHIND]?.steps.map((s) => s.step)).toContain('slot');
    expect(figures.samples).toBeGreaterThan(0);
    expect(figures.mostOut).toBeLessThanOrEqual(K);
    expect(figures.requestsFailed).toBe(0);

    const status = await fleet.cli(['status']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain(`catch-up of ${BEHIND} to ${to}`);
    const one = await fleet.cli(['status', catchUp.id]);
    expect(one.stdout).toContain(`catch-up of ${BEHIND} to ${to}`);
    expect(await fleet.lbAnswers(24)).toEqual(new Set(PRODUCTION.map((h) => `200 ${to} ${h}`)));
    await fleet.untilAllInService('production');
    caughtUpTo = to;
  });

  it(`${BEHIND}, behind a release marked broken while it was down, does not catch up to it`, async () => {
    const fleet = cluster();
    expect(caughtUpTo, 'runs after the catch-up above, which leaves every host on one release').not.toBe('');
    // v3 is the image of the release BEHIND does not run, under a new tag: a release the sample
    // app can run, and one BEHIND would have to catch up to (it asks only when its image differs).
    const otherImage = (await client().listReleases('web')).find((r) => r.tag === (caughtUpTo === 'v1' ? 'v2' : 'v1'))!.image;
    const published = await fleet.cli(['release', 'publish', 'web', 'v3', '--image', otherImage]);
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
      const lines = readFileSync(agentLog()).subarray(logFrom).toString('utf8').split('\n');
      return lines.some((line) => line.includes('catch-up refused') && line.includes('release_broken')) ? true : undefined;
    }, { timeoutMs: CAUGHT_UP_MS, ...POLL });

    const deploys = await client().listDeploys({ role: 'web', env: 'production' });
    expect(deploys.filter((d) => d.catchUpOf === v3.deploy.id)).toEqual([]);
    expect(await fleet.lbAnswers(24)).toContain(`200 ${caughtUpTo} ${BEHIND}`);
    // The coordinator's quarantine would take the hosts on v3 back a grace after the mark; the
    // operator's own deploy of the release before it comes first (the quarantine steps aside)
    // and leaves every host on one release for the parts after this one.
    const back = await fleet.deploy('web', 'production', caughtUpTo);
    expect(back.exitCode, back.stderr).toBe(0);
    await fleet.untilAllInService('production');
  });
}
