// Blue/green under load (README, "Blue/green"), on the strategies cluster's 4 staging hosts,
// each running the sample app in two colours: a blue/green deploy starts the idle colour on
// every host while the live one serves, then switches the whole group in one weight change;
// `grapevine switch` moves it back. A bounded stream of requests runs throughout: none fails,
// and no request sent after a switch returned is answered by the colour it left. How long each
// switch took is printed (the benchmark has the same figure as a row).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startTraffic, type TrafficAnswer } from '../../../dev-cluster/traffic.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import type { TestCluster } from '../../fixtures/cluster.js';
import { servingOneTag } from './serving.js';
import { until } from '../../fixtures/poll.js';
import { endedDeploy } from '../../fixtures/wait-output.js';

const ENV = 'staging';
const HOSTS = 4;

export function blueGreenChecks(cluster: () => TestCluster): void {
  it('switches the whole group to the new colour and back with no request failed, and none sent after a switch answered by the colour it left', async () => {
    const served = await servingOneTag(cluster(), ENV, HOSTS);
    const next = served === 'v1' ? 'v2' : 'v1';

    const stream = startTraffic({ url: cluster().state().stagingLbUrl, ratePerSecond: 40, durationMs: 120_000, timeoutMs: 5_000 });
    try {
      const result = await cluster().cli(['deploy', 'web', '--env', ENV, '--tag', next, '--strategy', 'blue-green', '--wait', '--json']);
      const switchedBy = Date.now();
      const deploy = endedDeploy(result.stdout);
      expect(result.exitCode, `${result.stderr} ${deploy.reason ?? ''}`).toBe(0);
      expect(deploy.strategy?.phase).toBe('done');
      const switched = /switched (\d+) servers to (blue|green) in (\d+) ms/.exec(deploy.strategy?.outcome ?? '');
      expect(switched?.[1], deploy.strategy?.outcome).toBe(String(HOSTS * 2));
      expect(switched?.[2]).toBe(deploy.colour);

      const answeredAfter = (at: number) => stream.answers().filter((a) => a.sentAt > at && a.status !== undefined).length;
      await until('answers to requests sent after the switch', () => (answeredAfter(switchedBy) >= 40 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
      const backStarted = Date.now();
      const back = await cluster().cli(['switch', 'web', '--env', ENV, '--json']);
      const backAt = Date.now();
      expect(back.exitCode, back.stderr).toBe(0);
      const answer = JSON.parse(back.stdout) as { live: string; servers: number; ms: number };
      expect(answer.live).toBe(deploy.strategy?.fromColour);
      expect(answer.servers).toBe(HOSTS * 2);
      await until('answers to requests sent after the switch back', () => (answeredAfter(backAt) >= 40 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });

      const seen = await stream.stop();
      const answers = stream.answers();
      console.log(`blue/green: switch to ${deploy.colour} ${switched?.[3]} ms, back to ${answer.live} ${answer.ms} ms (${HOSTS * 2} servers); ${seen.answered} answers, ${seen.failed} failed`);
      expect(seen.failed, JSON.stringify(seen.failures)).toBe(0);
      // Between the two switches every request is answered by the new release, after the second by the old.
      expect(tagsOf(answers.filter((a) => a.sentAt > switchedBy && a.sentAt + a.ms < backStarted))).toEqual(new Set([next]));
      expect(tagsOf(answers.filter((a) => a.sentAt > backAt))).toEqual(new Set([served]));
      expect(answers.filter((a) => a.sentAt > switchedBy && a.sentAt + a.ms < backStarted).length).toBeGreaterThan(0);
    } finally {
      await stream.stop();
    }
    const { stdout } = await cluster().cli(['status', '--json']);
    expect((JSON.parse(stdout) as Deploy[]).some((each) => each.status === 'in_progress' && each.env === ENV)).toBe(false);
    await noCatchUpAfterSwitchBack(cluster(), served);
  });
}

/**
 * A reconcile round after the switch back (an agent's restart runs one at once) finds the live
 * colour running the release it went back to: the host asks for no catch-up to the release the
 * group was switched away from, which would put it back on the live colour.
 */
async function noCatchUpAfterSwitchBack(fleet: TestCluster, served: string): Promise<void> {
  const host = fleet.state().hosts.find((each) => each.env === ENV);
  if (!host?.metricsUrl) throw new Error(`no ${ENV} host with a metrics address in the cluster's state`);
  const since = Date.now();
  const agentLog = join(host.dir, 'agent.log');
  // Only what the restarted agent writes counts: the log goes on in the same file.
  const logFrom = statSync(agentLog).size;
  await fleet.chaos('restart-agent', host.name);
  const reconciled = `grapevine_agent_release_info{role="web",env="${ENV}",tag="${served}"} 1`;
  await until(`${host.name}'s first reconcile round after its restart`, async () => {
    const answer = await fetch(host.metricsUrl!, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    return answer?.ok && (await answer.text()).includes(reconciled) ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 250 });
  // The round ends one way or the other: the agent logs the coordinator's "up to date", or a
  // catch-up deploy is created.
  const catchUps = await until(`${host.name}'s round to end: up to date, or a catch-up`, async () => {
    const { stdout } = await fleet.cli(['status', '--json']);
    const created = (JSON.parse(stdout) as Deploy[]).filter((each) => each.env === ENV && each.catchUpOf !== undefined && each.createdAt >= since);
    return created.length > 0 || readFileSync(agentLog).subarray(logFrom).toString('utf8').includes('"up to date: the group runs what this host runs') ? created : undefined;
  }, { timeoutMs: 30_000, intervalMs: 250 });
  expect(catchUps.map((each) => `${each.id} ${each.tag} on ${each.targets?.join(',')}`)).toEqual([]);
  // Each answer is `STATUS TAG HOST`, `200 v1 s2`.
  const answered = [...(await fleet.lbAnswers(12, ENV))].map((answer) => answer.split(' ').slice(0, 2).join(' '));
  expect(new Set(answered)).toEqual(new Set([`200 ${served}`]));
}

/** The tags that answered: `v2` of `v2 h7`. */
function tagsOf(answers: readonly TrafficAnswer[]): Set<string> {
  return new Set(answers.map((a) => (a.body ?? '').split(' ')[0] ?? ''));
}
