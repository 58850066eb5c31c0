// Quarantine after the fact (README, "Quarantine"), on the strategies cluster's 6 production
// hosts: a release that passed its health checks and finished on every host is marked broken
// afterwards; the coordinator rolls those hosts back, through the slots, to the tag they ran
// before, as a rollback deploy of its own, with never more than k of them out at once.
import { expect, it } from 'vitest';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, maxConcurrentDeploying, type TestCluster } from '../../fixtures/cluster.js';
import { servingOneTag } from './serving.js';
import { until } from '../../fixtures/poll.js';

export function quarantineChecks(cluster: () => TestCluster): void {
  it('hosts that finished v3-slow before it was marked broken go back to the tag they ran, never more than k out at once', async () => {
    const before = await servingOneTag(cluster(), 'production', PRODUCTION.length);
    await cluster().untilAllInService('production');

    // v3-slow passes its health check on every host: only an operator can tell it is bad.
    const slow = await cluster().deploy('web', 'production', 'v3-slow');
    expect(slow.exitCode, slow.stderr).toBe(0);
    expect(Object.values(slow.deploy.hosts).filter((host) => host.state === 'succeeded')).toHaveLength(PRODUCTION.length);
    const markedAt = Date.now();
    const marked = await cluster().cli(['mark-broken', 'web', 'v3-slow', '--reason', 'answers 300 ms late']);
    expect(marked.exitCode, marked.stderr).toBe(0);

    const rollback = await until('the quarantine rollback to end', async () => {
      const { stdout } = await cluster().cli(['status', '--json']);
      const found = (JSON.parse(stdout) as Deploy[]).find((deploy) => deploy.rollbackOf === 'v3-slow' && deploy.createdAt >= markedAt);
      return found !== undefined && found.status !== 'in_progress' ? found : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500 });
    const full = JSON.parse((await cluster().cli(['status', rollback.id, '--json'])).stdout) as Deploy;
    console.log(`quarantine: ${full.id} to ${full.tag} over ${full.targets?.length} hosts, ${((full.finishedAt ?? 0) - markedAt) / 1000} s after the mark, at most ${maxConcurrentDeploying(full)} at once (k = ${full.slots})`);
    expect(full.status, full.reason).toBe('succeeded');
    expect(full.tag).toBe(before);
    expect(full.startedBy).toBe('coordinator');
    expect([...(full.targets ?? [])].sort()).toEqual(PRODUCTION);
    expect(full.slots).toBe(2);
    expect(maxConcurrentDeploying(full)).toBeLessThanOrEqual(2);

    await cluster().untilAllInService('production');
    const answers = await cluster().lbAnswers(40, 'production');
    expect([...answers].every((answer) => answer.startsWith(`200 ${before} `)), [...answers].join(', ')).toBe(true);
  });
}
