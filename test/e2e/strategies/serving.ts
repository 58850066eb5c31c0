// Where a strategies part starts from, whichever part ran before it: every host of the group
// serving one tag that is not broken (a fresh cluster runs nothing until its first deploy).
import { expect } from 'vitest';
import { backendFor } from '../../../dev-cluster/sample-app.js';
import { readyServers, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';

/** Deploys v1 when the group is not all in service; returns the one tag every host answers with. */
export async function servingOneTag(cluster: TestCluster, env: 'production' | 'staging', hosts: number): Promise<string> {
  const ready = await readyServers(cluster.state().runtimeSocket, backendFor(env));
  if (ready === undefined || ready.size < hosts) {
    const deployed = await cluster.deploy('web', env, 'v1');
    expect(deployed.exitCode, deployed.stderr).toBe(0);
  }
  return until(`every ${env} host to serve one tag`, async () => {
    const tags = new Set([...(await cluster.lbAnswers(30, env))].map((answer) => answer.split(' ')[1]));
    return tags.size === 1 ? [...tags][0] : undefined;
  }, { timeoutMs: 30_000, intervalMs: 500 });
}
