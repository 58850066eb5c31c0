// Red-white routing on a dev cluster (README, "Red-white routing"): the mobile hosts m1..m4,
// m1 and m2 of cluster red, m3 and m4 of cluster white, behind the routed frontend. Red runs
// v1 and white v2, each deployed alone (`--cluster`); clients are answered by the cluster their
// version routes to, a route change reaches new requests within 1 s with no request failed,
// bad input changes nothing, usage counts each cluster's requests, and red is retired only
// once no route points at it.
import { expect, it } from 'vitest';
import { CLIENT_VERSION_HEADER } from '../../../shared/contract/routing.js';
import { clusterBackend, RED_WHITE_ENV } from '../../../dev-cluster/red-white.js';
import { readyServers, type TestCluster } from '../../fixtures/cluster.js';
import { pause } from '../../../shared/contract/waiting.js';
import { until } from '../../fixtures/poll.js';
import { endedDeploy } from '../../fixtures/wait-output.js';

const ENV = RED_WHITE_ENV;
const RED = ['m1', 'm2'];
const WHITE = ['m3', 'm4'];
const ROUTE_BOUND_MS = 1_000;
/** The stream during a route change: one request every 10 ms, alternating 1.0 and 1.1, for at most 6 s. */
const STREAM_EVERY_MS = 10;
const STREAM_FOR_MS = 6_000;
const REQUEST_TIMEOUT_MS = 2_000;

interface Answer {
  version: string;
  sentAt: number;
  /** `STATUS BODY`, or `error ...` when the request failed. */
  text: string;
}

export function redWhiteChecks(cluster: () => TestCluster): void {
  const url = () => {
    const routed = cluster().state().routedLbUrl;
    if (!routed) throw new Error('the cluster has no routed frontend');
    return routed;
  };
  const ask = async (version?: string): Promise<Answer> => {
    const sentAt = Date.now();
    const headers: Record<string, string> = version === undefined ? {} : { [CLIENT_VERSION_HEADER]: version };
    try {
      // A connection per request, as separate clients would open.
      const response = await fetch(url(), { headers: { ...headers, connection: 'close' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      return { version: version ?? '', sentAt, text: `${response.status} ${(await response.text()).trim()}` };
    } catch (error) {
      return { version: version ?? '', sentAt, text: `error ${(error as Error).message}` };
    }
  };
  /** The tags that answered `times` requests of one version. */
  const tagsFor = async (version: string | undefined, times = 8): Promise<Set<string>> => {
    const tags = new Set<string>();
    for (let i = 0; i < times; i++) tags.add((await ask(version)).text.split(' ').slice(0, 2).join(' '));
    return tags;
  };
  const cli = async (...args: string[]) => cluster().cli(args);
  const routes = async () => {
    const listed = await cli('route', 'list', 'web', '--env', ENV, '--json');
    expect(listed.exitCode, listed.stderr).toBe(0);
    return JSON.parse(listed.stdout) as { routes: unknown[]; defaultCluster: string };
  };

  it('deploys v1 to cluster red and v2 to cluster white, each deploy reaching only its own cluster', async () => {
    for (const [cluster_, tag, hosts] of [['red', 'v1', RED], ['white', 'v2', WHITE]] as const) {
      const deployed = await cli('deploy', 'web', '--env', ENV, '--tag', tag, '--cluster', cluster_, '--wait', '--json');
      expect(deployed.exitCode, deployed.stderr).toBe(0);
      const deploy = endedDeploy(deployed.stdout);
      expect(deploy.status).toBe('succeeded');
      expect(deploy.cluster).toBe(cluster_);
      expect([...(deploy.targets ?? [])].sort()).toEqual(hosts);
      await until(`${cluster_}'s hosts in service`, async () => {
        const ready = await readyServers(cluster().state().runtimeSocket, clusterBackend(ENV, cluster_));
        return hosts.every((host) => ready?.has(host)) ? true : undefined;
      }, { timeoutMs: 30_000, intervalMs: 250 });
    }
    // Before any route, every request goes to the first cluster.
    expect(await tagsFor('1.1')).toEqual(new Set(['200 v1']));
  });

  it(`routes 1.1 to white within ${ROUTE_BOUND_MS} ms of route set exiting, with no request failed meanwhile; 1.0 and unversioned stay on red`, async () => {
    const answers: Answer[] = [];
    let changedAt: number | undefined;
    const stream = (async () => {
      const end = Date.now() + STREAM_FOR_MS;
      for (let i = 0; Date.now() < end; i++) {
        answers.push(await ask(i % 2 === 0 ? '1.0' : '1.1'));
        if (changedAt !== undefined && Date.now() - changedAt > 2 * ROUTE_BOUND_MS) break;
        // The stream's rate, as clients send it: not a wait for a condition.
        await pause(STREAM_EVERY_MS);
      }
    })();
    // The change lands in a stream already answered by red for both versions.
    await until('the stream under way', async () => (answers.filter((a) => a.text.startsWith('200 v1')).length >= 20 ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
    const set = await cli('route', 'set', 'web', '--env', ENV, '--client', '>=1.1', '--cluster', 'white');
    changedAt = Date.now();
    expect(set.exitCode, set.stderr).toBe(0);
    await stream;
    const failed = answers.filter((a) => !a.text.startsWith('200 '));
    const firstWhite = answers.find((a) => a.version === '1.1' && a.text.startsWith('200 v2'));
    const lastRedAfter = answers.filter((a) => a.version === '1.1' && a.text.startsWith('200 v1') && a.sentAt >= changedAt!).at(-1);
    console.log(
      `route change under ${answers.length} requests: ${failed.length} failed; first 1.1 answered by white ${firstWhite ? firstWhite.sentAt - changedAt : 'never'} ms after route set exited;` +
        ` last 1.1 sent after it and answered by red: ${lastRedAfter ? `${lastRedAfter.sentAt - changedAt} ms` : 'none'}`,
    );
    expect(failed).toEqual([]);
    expect(firstWhite).toBeDefined();
    expect(lastRedAfter === undefined || lastRedAfter.sentAt - changedAt <= ROUTE_BOUND_MS).toBe(true);
    expect(answers.filter((a) => a.version === '1.0' && !a.text.startsWith('200 v1'))).toEqual([]);
    expect(await tagsFor('1.1')).toEqual(new Set(['200 v2']));
    expect(await tagsFor('1.4.2')).toEqual(new Set(['200 v2']));
    expect(await tagsFor('1.0')).toEqual(new Set(['200 v1']));
    expect(await tagsFor(undefined)).toEqual(new Set(['200 v1']));
    expect(await tagsFor('not-a-version')).toEqual(new Set(['200 v1']));
  });

  it('refuses an unknown cluster and a malformed range with a clear error, and changes nothing', async () => {
    const before = await routes();
    const unknown = await cli('route', 'set', 'web', '--env', ENV, '--client', '>=2', '--cluster', 'blue');
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/blue/);
    const malformed = await cli('route', 'set', 'web', '--env', ENV, '--client', '>>1.x', '--cluster', 'white');
    expect(malformed.exitCode).toBe(2);
    expect(malformed.stderr).toMatch(/client|range/i);
    expect(await routes()).toEqual(before);
    expect(await tagsFor('1.0')).toEqual(new Set(['200 v1']));
  });

  it("shows each cluster's requests from HAProxy's own log", async () => {
    const usage = await until('both clusters counted', async () => {
      const listed = await cli('route', 'usage', 'web', '--env', ENV, '--window', '5m', '--json');
      expect(listed.exitCode, listed.stderr).toBe(0);
      const figures = JSON.parse(listed.stdout) as { clusters: Array<{ cluster: string; requests: number }> };
      return figures.clusters.every((c) => c.requests > 0) ? figures : undefined;
    }, { timeoutMs: 10_000, intervalMs: 500 });
    expect(usage.clusters.map((c) => c.cluster).sort()).toEqual(['red', 'white']);
  });

  it('refuses to retire red while a route points at it, and retires it once none does: its servers leave the load balancer', async () => {
    const refused = await cli('cluster', 'retire', 'web', '--env', ENV, '--cluster', 'red');
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/red/);
    expect(await readyServers(cluster().state().runtimeSocket, clusterBackend(ENV, 'red'))).toEqual(new Set(RED));

    expect((await cli('route', 'default', 'web', '--env', ENV, '--cluster', 'white')).exitCode).toBe(0);
    expect((await cli('route', 'rm', 'web', '--env', ENV, '--client', '>=1.1')).exitCode).toBe(0);
    expect(await tagsFor('1.0')).toEqual(new Set(['200 v2']));
    const retired = await cli('cluster', 'retire', 'web', '--env', ENV, '--cluster', 'red');
    expect(retired.exitCode, retired.stderr).toBe(0);
    expect(await readyServers(cluster().state().runtimeSocket, clusterBackend(ENV, 'red'))).toEqual(new Set());
    expect(await tagsFor('1.0')).toEqual(new Set(['200 v2']));
    const routedBack = await cli('route', 'set', 'web', '--env', ENV, '--client', '<1.1', '--cluster', 'red');
    expect(routedBack.exitCode).not.toBe(0);
    expect(routedBack.stderr).toMatch(/retired/);
  });
}
