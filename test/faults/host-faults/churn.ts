// Serf membership changes under a rollout (k = 2): bare Serf agents with the hosts' tags (web,
// production) join the gossip, one is SIGKILLed and one leaves, and a host's agent is killed
// and restarted through `grapevine dev chaos`. Hosts once counted the group themselves and,
// seeing it differently, held 4 slots at once with k = 3; now k is fixed per deploy, and
// neither HAProxy (sampled every 100 ms) nor Redis (its slot keys and out-of-service set,
// sampled every 100 ms) ever shows more than k hosts out.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { gatewayOf } from '../../../dev-cluster/cluster-state.js';
import { freePort } from '../../../dev-cluster/local-process.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { pause } from '../../../shared/contract/waiting.js';
import type { TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';
import { faultRow, recordFault } from '../fault-table.js';
import { watchGroupKeys, watchService, type GroupKeyFigures, type ServiceFigures } from '../service-watch.js';
import { nextRollout } from './settled-group.js';

/** k = ceil(6/3). */
const K = 2;
const EXTRA_MEMBERS = 3;
const EXTRA_PREFIX = 'churn-';
const ROLLOUT = { timeoutMs: 240_000, intervalMs: 100 };
const WATCH_MAX_MS = 300_000;
const MEMBERS_TIMEOUT_MS = 20_000;
const EXTRA_STOP_GRACE_MS = 3_000;

export function churnChecks(cluster: () => TestCluster): void {
  const extras: ResultPromise[] = [];

  afterAll(async () => {
    if (extras.length === 0) return;
    await Promise.all(extras.map((extra) => stopExtra(extra)));
    // The cluster goes on: no later deploy may count an extra member among its targets.
    const fleet = cluster();
    await until('no extra member alive in Serf', async () => {
      const alive = await fleet.cluster.serf().members({ status: 'alive' });
      return alive.some((member) => member.name.startsWith(EXTRA_PREFIX)) ? undefined : true;
    }, { timeoutMs: MEMBERS_TIMEOUT_MS, intervalMs: 250 });
  });

  it('members joining, failing and leaving mid-rollout, and an agent killed and restarted: never more than k out in HAProxy or in Redis', async () => {
    const fleet = cluster();
    const client = fleet.cluster.client();
    const state = fleet.state();
    const serf = fleet.cluster.serf();
    const hosts = fleet.hostsOf('production');
    const { to } = await nextRollout(fleet);
    const watching = watchService({ runtimeSocket: state.runtimeSocket, backend: 'web', servers: hosts, url: state.lbUrl, maxMs: WATCH_MAX_MS });
    const redisWatch = watchGroupKeys(fleet, WATCH_MAX_MS);
    let deploy: Deploy | undefined;
    let redis: GroupKeyFigures | undefined;
    let figures: ServiceFigures | undefined;
    let restarted = '';
    let joinedAt = 0;
    try {
      const started = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', to, '--json']);
      expect(started.exitCode, started.stderr).toBe(0);
      const id = (JSON.parse(started.stdout) as Deploy).id;
      await until(`deploy ${id} to have a host holding a slot`, async () => {
        const current = await client.getDeploy(id);
        return Object.values(current.hosts).some((host) => host.steps.some((s) => s.step === 'slot')) ? true : undefined;
      }, ROLLOUT);

      // Members that match the deploy's tags join while it runs.
      const gateway = gatewayOf(state.subnet);
      // The gossip is encrypted: the extra members get the cluster's key from a 0600 file, never on their command line.
      const keyConfig = join(state.dir, 'churn-serf.json');
      writeFileSync(keyConfig, JSON.stringify({ encrypt_key: state.serfEncryptKey }), { mode: 0o600 });
      for (let i = 1; i <= EXTRA_MEMBERS; i++) extras.push(startExtraMember(`${EXTRA_PREFIX}${i}`, gateway, 7950 + i, await freePort(), keyConfig));
      await until(`the ${EXTRA_MEMBERS} extra members to be alive`, async () => {
        const alive = await serf.members({ status: 'alive', tags: { roles: 'web', env: 'production' } });
        return alive.length >= hosts.length + EXTRA_MEMBERS ? true : undefined;
      }, { timeoutMs: MEMBERS_TIMEOUT_MS, intervalMs: 250 });
      joinedAt = Date.now();
      // One fails (SIGKILL), one leaves (SIGINT, a graceful leave); the third stays to the end.
      await stopExtra(extras[0]!, 'SIGKILL');
      await stopExtra(extras[1]!, 'SIGINT');

      // A host that has finished its part crashes and comes back: it fails and rejoins in Serf.
      restarted = await until(`a host of ${id} to have succeeded`, async () => {
        const current = await client.getDeploy(id);
        return Object.values(current.hosts).find((host) => host.state === 'succeeded')?.host;
      }, ROLLOUT);
      await fleet.chaos('kill-agent', restarted);
      await until(`the coordinator to see ${restarted} failed`, async () => {
        const failed = await serf.members({ status: 'failed', tags: { roles: 'web' } });
        return failed.some((member) => member.name === restarted) ? true : undefined;
      }, { timeoutMs: MEMBERS_TIMEOUT_MS, intervalMs: 250 });
      await fleet.chaos('restart-agent', restarted);
      deploy = await until(`deploy ${id} to end`, async () => {
        const current = await client.getDeploy(id);
        return current.status === 'in_progress' ? undefined : current;
      }, ROLLOUT);
    } finally {
      redis = await redisWatch.stop();
      figures = await watching.stop();
      recordFault(faultRow(`Serf churn mid-rollout: ${EXTRA_MEMBERS} extra web/production members join, one killed, one leaves; ${restarted || '-'}'s agent killed and restarted`, K, figures, deploy));
      console.log(`churn: Redis sampled ${redis.samples} times (${redis.unanswered} unanswered): at most ${redis.mostSlots} slot keys and ${redis.mostOut} hosts in the out-of-service set (k = ${K})`);
    }
    expect(figures.samples).toBeGreaterThan(0);
    expect(figures.mostOut).toBeLessThanOrEqual(K);
    expect(redis.samples - redis.unanswered).toBeGreaterThan(0);
    expect(redis.mostSlots).toBeLessThanOrEqual(K);
    expect(redis.mostOut).toBeLessThanOrEqual(K);
    // The membership changed while the rollout ran.
    expect(joinedAt).toBeLessThan(deploy.finishedAt ?? 0);
    // k and the targets were fixed when the deploy was made, before any extra member joined.
    expect(deploy.slots).toBe(K);
    expect([...(deploy.targets ?? [])].sort()).toEqual([...hosts].sort());
    expect(deploy, JSON.stringify(deploy.hosts)).toMatchObject({ status: 'succeeded' });
    await fleet.untilAllInService('production');
  });
}

/** A bare Serf agent with a web host's tags, gossiping with the cluster from the gateway address; no handler, no Grapevine agent. */
function startExtraMember(name: string, gateway: string, port: number, rpc: number, keyConfig: string): ResultPromise {
  return execa(
    'serf',
    ['agent', `-config-file=${keyConfig}`, `-node=${name}`, `-bind=${gateway}:${port}`, `-rpc-addr=127.0.0.1:${rpc}`, '-tag', 'env=production', '-tag', 'roles=web', `-join=${gateway}:7946`, '-log-level=warn'],
    { reject: false, stdin: 'ignore', buffer: false, stdout: 'ignore', stderr: 'ignore' },
  );
}

/** Ends an extra member this test started, by its own id, and waits for it to be gone (bounded). */
async function stopExtra(extra: ResultPromise, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (extra.exitCode !== undefined && extra.exitCode !== null) return;
  extra.kill(signal);
  const outcome = await Promise.race([extra.then(() => 'exited'), pause(EXTRA_STOP_GRACE_MS).then(() => 'still running')]);
  if (outcome === 'still running') {
    extra.kill('SIGKILL');
    await extra;
  }
}
