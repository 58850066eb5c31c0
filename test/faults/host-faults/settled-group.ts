// Where each part on the host-faults cluster starts: no deploy of the group in progress, every
// host alive in the coordinator's Serf view (a deploy targets the members it sees alive; a host
// back from a partition may take Serf's 30 s reconnect to be seen), in service and serving one
// release, v1 or v2; the part rolls out the other one. When the hosts serve different releases
// (a part left a host behind a broken one), v1 goes out first.
import type { TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';

/** A catch-up or a rollout a part left behind ends within this; a partition heals within 30 s. */
const SETTLE = { timeoutMs: 240_000, intervalMs: 250 };
const TAGS = ['v1', 'v2'] as const;
type Tag = (typeof TAGS)[number];

export interface NextRollout {
  /** What every production host serves now. */
  from: Tag;
  /** The other release: a rollout to it replaces every host. */
  to: Tag;
}

export async function nextRollout(fleet: TestCluster): Promise<NextRollout> {
  const client = fleet.cluster.client();
  await until('no deploy of web to production in progress', async () => {
    const deploys = await client.listDeploys({ role: 'web', env: 'production' });
    return deploys.some((deploy) => deploy.status === 'in_progress') ? undefined : true;
  }, SETTLE);
  const hosts = fleet.hostsOf('production');
  await until('the coordinator to see exactly the production hosts alive in Serf', async () => {
    const alive = (await fleet.cluster.serf().members({ status: 'alive', tags: { roles: 'web', env: 'production' } })).map((member) => member.name);
    return alive.length === hosts.length && hosts.every((host) => alive.includes(host)) ? true : undefined;
  }, SETTLE);
  await fleet.untilAllInService('production', SETTLE.timeoutMs);
  const answers = await fleet.lbAnswers(hosts.length * 4);
  const served = TAGS.find((tag) => answers.size === hosts.length && hosts.every((host) => answers.has(`200 ${tag} ${host}`)));
  if (served) return { from: served, to: served === 'v1' ? 'v2' : 'v1' };
  const v1 = await fleet.deploy('web', 'production', 'v1');
  if (v1.deploy.status !== 'succeeded') throw new Error(`the hosts serve ${[...answers].join(', ')}, and v1 did not go out to all of them: ${v1.deploy.status} ${v1.deploy.reason ?? ''}`);
  return { from: 'v1', to: 'v2' };
}
