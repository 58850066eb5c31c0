// A slot holder cut off mid-deploy (`grapevine dev chaos partition HOST --for 30`: no gossip,
// Redis, coordinator or load-balancer traffic inside its namespace), while HAProxy's server
// states and Redis's slot keys are sampled: its lease lapses unrenewed, it cannot confirm it,
// so it changes nothing more and puts its previous version back; it keeps counting against k,
// so nobody drains in its place; the rollout ends partial; once healed it serves again and catches up.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Chaos } from '../../../dev-cluster/chaos.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, answersFrom, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';
import { faultRow, recordFault } from '../fault-table.js';
import { watchGroupKeys, watchService, type GroupKeyFigures, type ServiceFigures } from '../service-watch.js';
import { nextRollout } from './settled-group.js';

/** k = ceil(6/3): the most production hosts a deploy may take out of service at once. */
const K = 2;
/** Twice the agents' 15 s slot lease: the lease surely lapses while the host is cut off. */
const PARTITION_SECONDS = 30;
const ROLLOUT = { timeoutMs: 240_000, intervalMs: 100 };
const WATCH_MAX_MS = 300_000;

export function partitionChecks(cluster: () => TestCluster): void {
  it('its lease lapses and it stops; never more than k out nor more than k slot keys; the deploy ends partial; healed, it serves again and catches up', async () => {
    const fleet = cluster();
    const state = () => fleet.state();
    const client = fleet.cluster.client();
    const { to } = await nextRollout(fleet);
    // Each agent's log as it stands: what this rollout adds to the victim's is read below.
    const agentLogOf = (name: string) => join(state().hosts.find((host) => host.name === name)!.dir, 'agent.log');
    const logFrom = new Map(PRODUCTION.map((name) => [name, statSync(agentLogOf(name)).size]));
    const watching = watchService({ runtimeSocket: state().runtimeSocket, backend: 'web', servers: PRODUCTION, url: state().lbUrl, maxMs: WATCH_MAX_MS });
    // Redis as an operator would watch it: the group's slot keys and out-of-service set.
    const keysWatch = watchGroupKeys(fleet, WATCH_MAX_MS);
    let redis: GroupKeyFigures | undefined;
    let figures: ServiceFigures | undefined;
    let deploy: Deploy | undefined;
    let victim = '';
    let cutAt = 0;
    try {
      const started = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', to, '--json']);
      expect(started.exitCode, started.stderr).toBe(0);
      const id = (JSON.parse(started.stdout) as Deploy).id;
      // A host reports `pull` once its drain is done (`drain` comes before it drains).
      victim = await until(`a host of ${id} holding a slot and drained`, async () => {
        const current = await client.getDeploy(id);
        return Object.values(current.hosts).find((host) => host.state === 'deploying' && host.steps.some((s) => s.step === 'pull'))?.host;
      }, ROLLOUT);
      cutAt = Date.now();
      // dev chaos's own partition, called in this process: the CLI's start-up on a busy machine
      // could let the host finish its deploy before it is cut off.
      const cut = await new Chaos(state().dir).partition(victim, PARTITION_SECONDS);
      expect(cut.text).toContain(`partitioned ${victim}`);
      deploy = await until(`deploy ${id} to end`, async () => {
        const current = await client.getDeploy(id);
        return current.status === 'in_progress' ? undefined : current;
      }, ROLLOUT);
      // Healed by itself; then it serves again (reconcile) and catches up to the new release through a slot.
      await fleet.untilAllInService('production', 180_000);
      await until(`every production host answering ${to}`, async () => {
        const answers = await fleet.lbAnswers(60);
        return [...answersFrom(to, PRODUCTION)].every((answer) => answers.has(answer)) ? true : undefined;
      }, { timeoutMs: 240_000, intervalMs: 1_000 });
    } finally {
      figures = await watching.stop();
      redis = await keysWatch.stop();
      recordFault(faultRow(`a slot holder (${victim || '-'}) partitioned for ${PARTITION_SECONDS} s mid-rollout`, K, figures, deploy));
    }
    console.log(`partition: cut at ${cutAt}; first failed requests: ${JSON.stringify(figures.failures.map((f) => ({ ...f, at: f.at - cutAt })))}`);
    console.log(`partition: Redis sampled ${redis.samples} times (${redis.unanswered} unanswered): at most ${redis.mostSlots} slot keys and ${redis.mostOut} hosts in the out-of-service set (k = ${K})`);
    expect(figures.samples).toBeGreaterThan(0);
    expect(figures.requestsFailed).toBe(0);
    expect(figures.mostOut).toBeLessThanOrEqual(K);
    expect(redis.samples - redis.unanswered).toBeGreaterThan(0);
    expect(redis.mostSlots).toBeLessThanOrEqual(K);
    expect(redis.mostOut).toBeLessThanOrEqual(K);
    expect(deploy.status).toBe('partial');
    expect(deploy.reason).toContain(victim);
    const others = Object.values(deploy.hosts).filter((host) => host.host !== victim);
    expect(others.map((host) => host.state)).toEqual(others.map(() => 'succeeded'));
    // Cut off, the host could not confirm its lease: it said so, changed nothing more, and did not blame the release.
    const agentLog = readFileSync(agentLogOf(victim)).subarray(logFrom.get(victim) ?? 0).toString('utf8');
    expect(agentLog).toContain('slot lease lost; stopping here and putting the previous version back');
    expect(agentLog).not.toContain('marking the release broken');
    const status = await fleet.cli(['status', deploy.id]);
    expect(status.stdout).toContain('partial');
    const release = (await client.listReleases('web')).find((r) => r.tag === to);
    expect(release).toBeDefined();
    expect(release?.broken).toBeUndefined();
  });
}
