// Two coordinators over one Redis (README, "Two coordinators"), on a local cluster with real
// Serf, Redis, HAProxy and Docker: 6 production hosts given both coordinators' URLs, a CLI
// given both. The lease holder is killed (SIGKILL, its Serf agent with it, as a machine dying)
// in the middle of a rolling deploy: `status` keeps answering through the other, which takes
// the lease, and the deploy ends succeeded with every host's report; a deploy of a failing
// release then ends failed with the release marked broken. GV_COORD_CLUSTER and
// GV_COORD_SUBNET let two runs on one machine use their own cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { answersFrom, startCluster, type TestCluster } from '../fixtures/cluster.js';
import { until } from '../fixtures/poll.js';
import { endedDeploy } from '../fixtures/wait-output.js';
import { childrenOf } from '../../dev-cluster/local-process.js';
import { SAMPLE_ROLE } from '../../dev-cluster/sample-app.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';

const name = process.env.GV_COORD_CLUSTER ?? 'gvcoord';
const subnet = process.env.GV_COORD_SUBNET ?? '10.248.0';
/** The coordinators' lease TTL (config default): the other takes over within about TTL and a third. */
const LEASE_TTL_MS = 6_000;

const Health = z.object({ ok: z.boolean(), coordinator: z.object({ name: z.string(), leader: z.boolean(), leaderName: z.string().optional() }) });

let fleet: TestCluster | undefined;
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the two-coordinator cluster did not come up');
  return fleet;
};

/** One coordinator alone, by its own URL: what an operator's health check of that instance sees. */
function only(url: string): CoordinatorClient {
  const { token, caFile } = cluster().cluster.state;
  return new CoordinatorClient({ url, token, caFile, timeoutMs: 2_000 });
}
const health = (url: string) => only(url).send('GET', '/healthz', Health);
/** The Prometheus text a scrape of that coordinator gets (plain HTTP: the cluster runs without TLS). */
const scrape = async (url: string) => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${cluster().cluster.state.token}` }, signal: AbortSignal.timeout(5_000) })).text();

beforeAll(async () => {
  // A start delay of 3 s per host: three waves of two, long enough to kill a coordinator mid-way.
  fleet = await startCluster({ name, subnet, production: 6, coordinators: 2, startDelay: 3, promote: false });
}, 240_000);

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('two coordinators', () => {
  it('both answer; the first started leads, the second follows; hosts and the CLI have both URLs', async () => {
    const urls = cluster().cluster.state.coordinatorUrls ?? [];
    expect(urls).toHaveLength(2);
    const [first, second] = await Promise.all(urls.map((url) => health(url)));
    expect(first).toMatchObject({ ok: true, coordinator: { name: 'grapevine-coordinator', leader: true } });
    expect(second).toMatchObject({ ok: true, coordinator: { name: 'grapevine-coordinator-2', leader: false, leaderName: 'grapevine-coordinator' } });
    expect(cluster().cluster.cliEnv().GRAPEVINE_COORDINATOR).toBe(urls.join(','));
  });

  it('the leader killed mid-rollout: status keeps answering, the other takes the lease, the deploy ends succeeded with every report', async () => {
    const { state } = cluster().cluster;
    const [firstUrl, secondUrl] = state.coordinatorUrls!;
    const started = await cluster().cli(['deploy', SAMPLE_ROLE, '--env', 'production', '--tag', 'v2', '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    const id = (JSON.parse(started.stdout) as { id: string }).id;

    // `status` through the CLI with both URLs, the whole time, one after another.
    const samples: Array<{ exitCode: number; stderr: string; at: number; ms: number }> = [];
    let killedAt = Number.POSITIVE_INFINITY;
    let sampling = true;
    const sampler = (async () => {
      for (let round = 0; sampling && round < 1_000; round++) {
        const at = Date.now();
        const { exitCode, stderr } = await cluster().cli(['status', id, '--json']);
        samples.push({ exitCode, stderr, at, ms: Date.now() - at });
      }
    })();

    try {
      // Mid-rollout: a host holds a slot (out of service) and the deploy has not ended.
      await until('a host of the rollout out of service', async () => ((await cluster().groupKeys()).out.length > 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
      const leader = state.processes.coordinator!;
      // The coordinator and its Serf agent, as a machine that dies takes both.
      const pids = [leader.pid, ...childrenOf(leader.pid)];
      killedAt = Date.now();
      for (const pid of pids) process.kill(pid, 'SIGKILL');

      const takeover = await until('the second coordinator to take the lease', async () => ((await health(secondUrl!)).coordinator.leader ? Date.now() - killedAt : undefined), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      console.log(`[${name}] lease taken over ${takeover} ms after the leader was killed (TTL ${LEASE_TTL_MS} ms, renewal every ${LEASE_TTL_MS / 3} ms)`);
      // Within the TTL and a renewal interval, with room for a loaded machine's scheduling.
      expect(takeover).toBeLessThan(LEASE_TTL_MS + LEASE_TTL_MS / 3 + 3_000);
      expect(await scrape(secondUrl!)).toMatch(/grapevine_coordinator_leader\{coordinator="grapevine-coordinator-2"\} 1/);
      await expect(health(firstUrl!)).rejects.toThrow(/unreachable/);

      const waited = await cluster().cli(['status', id, '--wait', '--json']);
      const ended = endedDeploy(waited.stdout);
      expect(ended.status, waited.stderr).toBe('succeeded');
      const reports = Object.values(ended.hosts);
      expect(reports.map((report) => report.host).sort()).toEqual(cluster().hostsOf('production').sort());
      expect(reports.every((report) => report.state === 'succeeded')).toBe(true);
    } finally {
      sampling = false;
      await sampler;
    }
    const failed = samples.filter((sample) => sample.exitCode !== 0);
    const slowest = Math.max(...samples.map((sample) => sample.ms));
    console.log(`[${name}] status sampled ${samples.length} times during the rollout and the takeover; ${failed.length} failed; slowest ${slowest} ms`);
    expect(failed.map((sample) => sample.stderr)).toEqual([]);
    // Asked before the kill and after it: the CLI's first URL refused, the second answered.
    expect(samples.some((sample) => sample.at < killedAt)).toBe(true);
    expect(samples.filter((sample) => sample.at >= killedAt).length).toBeGreaterThanOrEqual(2);
  });

  it('with the first coordinator gone, a deploy of a failing release ends failed and the release is marked broken', async () => {
    const result = await cluster().deploy(SAMPLE_ROLE, 'production', 'bad');
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.deploy.status).toBe('failed');
    const releases = await cluster().cluster.client().listReleases(SAMPLE_ROLE);
    expect(releases.find((release) => release.tag === 'bad')?.broken).toBeDefined();
    // The hosts still serve the release they had: v2 from every one of them.
    expect(await cluster().lbAnswers(18)).toEqual(answersFrom('v2', cluster().hostsOf('production')));
  });
});
