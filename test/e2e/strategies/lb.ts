// The load balancer as the strategies drive it (README, "Strategies"), on the strategies
// cluster: through the relay, with an operator credential, every production host's server
// serves at full weight, a weight set to 0 takes a host out of the answers and back at once,
// and HAProxy's own access log reaches the relay as per-host traffic.
import { expect, it } from 'vitest';
import { pino } from 'pino';
import { backendFor } from '../../../dev-cluster/sample-app.js';
import { HAProxyRelayClient } from '../../../shared/haproxy/relay-client.js';
import type { ServerTraffic } from '../../../shared/ports/traffic.js';
import { PRODUCTION, readyServers, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';

const BACKEND = backendFor('production');

export function lbChecks(cluster: () => TestCluster): void {
  let relay: HAProxyRelayClient | undefined;
  /** The coordinator's view: an operator credential of the credential store, which the relay checks. */
  async function operatorRelay(): Promise<HAProxyRelayClient> {
    // Each case starts from every production host serving, whichever part ran before it: a
    // fresh cluster runs nothing until its first deploy.
    const ready = await readyServers(cluster().state().runtimeSocket, BACKEND);
    if (ready === undefined || ready.size < PRODUCTION.length) {
      const deployed = await cluster().deploy('web', 'production', 'v1');
      expect(deployed.exitCode, deployed.stderr).toBe(0);
    }
    await cluster().untilAllInService('production');
    if (relay) return relay;
    const created = await cluster().cli(['token', 'create', '--scope', 'operator', '--name', 'lb-checks']);
    expect(created.exitCode, created.stderr).toBe(0);
    const state = cluster().state();
    relay = new HAProxyRelayClient({ url: state.relayUrl!, token: created.stdout.trim(), caFile: state.caFile, logger: pino({ level: 'silent' }) });
    return relay;
  }

  it("lists every production host's server ready at full weight", async () => {
    const servers = await (await operatorRelay()).weights(BACKEND);
    expect(servers.map((s) => [s.name, s.state, s.weight]).sort()).toEqual(PRODUCTION.map((host) => [host, 'ready', 100]));
  });

  it('takes a host out of the answers with its weight at 0, and back with 100', async () => {
    const lb = await operatorRelay();
    await lb.setWeights(BACKEND, { h1: 0 });
    try {
      const answers = await cluster().lbAnswers(30, 'production');
      expect([...answers].filter((answer) => answer.endsWith(' h1'))).toEqual([]);
      expect(answers.size).toBe(PRODUCTION.length - 1);
    } finally {
      await lb.setWeights(BACKEND, { h1: 100 });
    }
    expect((await lb.weights(BACKEND)).find((s) => s.name === 'h1')?.weight).toBe(100);
    expect([...(await cluster().lbAnswers(30, 'production'))].some((answer) => answer.endsWith(' h1'))).toBe(true);
  });

  it("counts each host's requests from HAProxy's access log, within a second or two", async () => {
    const lb = await operatorRelay();
    const from = Date.now();
    await cluster().lbAnswers(60, 'production');
    const sentAt = Date.now();
    const sum = (traffic: ServerTraffic[], key: 'requests' | 'timed' | 'errors') => traffic.flatMap((s) => s.buckets).reduce((total, b) => total + b[key], 0);
    const traffic = await until('the relay to count the 60 requests', async () => {
      const read = await lb.traffic(BACKEND, from - 1_000, Date.now() + 1_000);
      return sum(read, 'requests') >= 60 ? read : undefined;
    }, { intervalMs: 100, timeoutMs: 10_000 });
    console.log(`production traffic readable through the relay ${Date.now() - sentAt} ms after the last answer`);
    expect(traffic.map((s) => s.server).sort()).toEqual(PRODUCTION);
    expect(sum(traffic, 'timed')).toBe(sum(traffic, 'requests'));
    expect(sum(traffic, 'errors')).toBe(0);
  });
}
