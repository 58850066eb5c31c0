// The load balancer's relay, as an operator checks it on a running cluster: HAProxy's admin
// API answers on no TCP port, from a host's network or the load balancer's own; the hosts'
// deploys go through the relay (every host registered by it, every host ready); a host's own
// credential, used from inside that host, cannot touch another host's server.
import { readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { gatewayOf } from '../../../dev-cluster/cluster-state.js';
import { childrenOf } from '../../../dev-cluster/local-process.js';
import { backendFor } from '../../../dev-cluster/sample-app.js';
import type { DevClusterState, DevHostState } from '../../../dev-cluster/dev-cluster.js';
import { readyServers, type TestCluster } from '../../fixtures/cluster.js';

const PROBE_TIMEOUT_MS = 15_000;
const BACKEND = backendFor('production');

/** One request to the relay from inside `host`'s network namespace; the token goes by environment, never on a command line. */
const REQUEST_SCRIPT = `
const { RELAY_URL, RELAY_TOKEN, RELAY_METHOD, RELAY_BODY } = process.env;
const headers = { authorization: 'Bearer ' + RELAY_TOKEN };
if (RELAY_BODY) headers['content-type'] = 'application/json';
const response = await fetch(RELAY_URL, { method: RELAY_METHOD, headers, body: RELAY_BODY || undefined, signal: AbortSignal.timeout(10000) });
process.stdout.write(JSON.stringify({ status: response.status, body: await response.json() }));
`;

async function fromHost(state: DevClusterState, host: DevHostState, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: { error?: { message: string } } }> {
  const env = {
    RELAY_URL: `${state.relayUrl}${path}`,
    RELAY_TOKEN: token,
    RELAY_METHOD: method,
    RELAY_BODY: body === undefined ? '' : JSON.stringify(body),
    ...(state.caFile ? { NODE_EXTRA_CA_CERTS: state.caFile } : {}),
  };
  const result = await execa('nsenter', [`--net=${host.netns}`, '--', process.execPath, '--input-type=module', '-'], { input: REQUEST_SCRIPT, env, timeout: PROBE_TIMEOUT_MS });
  return JSON.parse(result.stdout) as { status: number; body: { error?: { message: string } } };
}

/** The TCP ports HAProxy (its master and workers) listens on, as `ss` lists them. */
async function haproxyTcpPorts(state: DevClusterState): Promise<Array<{ address: string; port: number }>> {
  const master = state.processes.haproxy!.pid;
  const pids = new Set([master, ...childrenOf(master)]);
  const { stdout } = await execa('ss', ['-Htlnp'], { stdin: 'ignore' });
  return stdout
    .split('\n')
    .filter((line) => [...line.matchAll(/pid=(\d+)/g)].some((match) => pids.has(Number(match[1]))))
    .map((line) => {
      const local = line.trim().split(/\s+/)[3] ?? '';
      const at = local.lastIndexOf(':');
      return { address: local.slice(0, at), port: Number(local.slice(at + 1)) };
    });
}

/** What a runtime API answers to `show info` on a TCP port, from this machine's own network. */
function askLocally(address: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = net.createConnection({ host: address === '*' || address === '0.0.0.0' ? '127.0.0.1' : address.replace(/^\[|\]$/g, ''), port });
    socket.setTimeout(3_000, () => socket.destroy());
    socket.on('connect', () => socket.write('show info\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('utf8')));
    socket.on('error', () => resolve(reply));
    socket.on('close', () => resolve(reply));
  });
}

export function relayChecks(cluster: () => TestCluster): void {
  const hostToken = (host: DevHostState) => (parseYaml(readFileSync(host.agentConfig, 'utf8')) as { coordinator: { token: string } }).coordinator.token;
  const hostNamed = (state: DevClusterState, name: string) => state.hosts.find((host) => host.name === name)!;

  it("keeps HAProxy's admin API off the network: a 0600 unix socket, no TCP port answering it from a host or the load balancer", async () => {
    const state = cluster().state();
    expect(statSync(state.runtimeSocket).isSocket()).toBe(true);
    expect(statSync(state.runtimeSocket).mode & 0o777).toBe(0o600);
    for (const host of state.hosts) {
      const config = parseYaml(readFileSync(host.agentConfig, 'utf8')) as { loadBalancer: Record<string, unknown> };
      expect(config.loadBalancer, `${host.name}'s agent config`).toMatchObject({ relay: { url: state.relayUrl } });
      expect(config.loadBalancer).not.toHaveProperty('runtimeApi');
    }
    const listeners = await haproxyTcpPorts(state);
    // Its frontends, and nothing else: every one answers HTTP, none the runtime API.
    expect(listeners.map((l) => l.port).sort()).toEqual([state.ports.lb, state.ports.stagingLb].sort());
    for (const { address, port } of listeners) {
      const reply = await askLocally(address, port);
      expect(reply, `${address}:${port}`).toMatch(/^HTTP\/1\.[01] 400/);
      expect(reply).not.toContain('Name: HAProxy');
    }
    // From inside a host, the load balancer's address offers the relay and nothing of HAProxy.
    const host = state.hosts[0]!;
    for (const { port } of listeners) {
      const probe = await execa('nsenter', [`--net=${host.netns}`, '--', 'socat', '-t', '2', '-', `TCP:${gatewayOf(state.subnet)}:${port},connect-timeout=2`], {
        input: 'show info\n',
        reject: false,
        timeout: PROBE_TIMEOUT_MS,
      });
      expect(probe.exitCode, `port ${port} from ${host.name}: ${probe.stderr}`).not.toBe(0);
      expect(probe.stdout).not.toContain('Name: HAProxy');
    }
  });

  it('runs the deploys through the relay: every host registered by it with its own credential, every host ready in HAProxy', async () => {
    const { exitCode, deploy } = await cluster().deploy('web', 'production', 'v2');
    expect(exitCode).toBe(0);
    expect(deploy.status).toBe('succeeded');
    await cluster().untilAllInService('production');
    const state = cluster().state();
    const registered = readFileSync(`${state.dir}/lb-relay.log`, 'utf8')
      .split('\n')
      .filter((line) => line.includes('server registered through the relay'))
      .map((line) => JSON.parse(line) as { server: string; actor: string; source: string });
    for (const host of cluster().hostsOf('production')) {
      const own = registered.filter((entry) => entry.server === host);
      expect(own.length, `${host} registered through the relay`).toBeGreaterThan(0);
      // Its own host credential, from its own address: not a shared or operator token.
      expect(own.every((entry) => entry.actor.startsWith('host ') && entry.source === hostNamed(state, host).address)).toBe(true);
    }
    const log = readFileSync(`${state.dir}/lb-relay.log`, 'utf8');
    for (const host of state.hosts) expect(log).not.toContain(hostToken(host));
  });

  it("refuses a host's credential acting on another host's server, and HAProxy keeps that server as it was", async () => {
    const state = cluster().state();
    const [h1, h2] = [hostNamed(state, 'h1'), hostNamed(state, 'h2')];
    const token = hostToken(h1);
    const before = await readyServers(state.runtimeSocket, BACKEND);
    expect(before).toEqual(new Set(cluster().hostsOf('production')));
    // The credential is good: the relay lets h1 read its backend.
    expect((await fromHost(state, h1, token, 'GET', `/v1/backends/${BACKEND}/servers`)).status).toBe(200);

    const drainOther = await fromHost(state, h1, token, 'POST', `/v1/backends/${BACKEND}/servers/h2/drain`, {});
    expect(drainOther.status).toBe(403);
    expect(drainOther.body.error?.message).toMatch(/may drain only the server h1, not h2/);
    const hijack = await fromHost(state, h1, token, 'POST', `/v1/backends/${BACKEND}/servers/h2/register`, { address: `${h1.address}:8080` });
    expect(hijack.status).toBe(403);
    const pointAway = await fromHost(state, h1, token, 'POST', `/v1/backends/${BACKEND}/servers/h1/register`, { address: `${h2.address}:8080` });
    expect(pointAway.status).toBe(403);
    expect(pointAway.body.error?.message).toMatch(new RegExp(`only at the address it connects from \\(${h1.address.replaceAll('.', '\\.')}\\)`));
    expect((await fromHost(state, h1, 'gv_not-a-token', 'POST', `/v1/backends/${BACKEND}/servers/h1/drain`, {})).status).toBe(401);

    expect(await readyServers(state.runtimeSocket, BACKEND)).toEqual(before);
    const refusals = readFileSync(`${state.dir}/lb-relay.log`, 'utf8').split('\n').filter((line) => line.includes('refused a load-balancer request'));
    expect(refusals.some((line) => line.includes('"server":"h2"') && line.includes('"action":"drain"'))).toBe(true);
  });
}
