// What the benchmark checks after every rollout before it counts its figures, as an
// operator would: the deploy succeeded on every host, every host answers the new tag,
// HAProxy has every host ready, and the load balancer serves only the new tag. The bench's
// hosts run the app in two colours: a rolling rollout replaces the live one, blue.
import net from 'node:net';
import type { DevCluster } from '../dev-cluster/dev-cluster.js';
import type { DevHostState } from '../dev-cluster/cluster-state.js';
import { COLOUR_PORTS } from '../dev-cluster/hosts.js';
import { SAMPLE_ROLE } from '../dev-cluster/sample-app.js';
import { GrapevineError } from '../shared/contract/errors.js';
import type { Deploy } from '../shared/contract/schemas.js';
import { serverName, type Colour } from '../shared/contract/strategy.js';

export const ENV = 'production';
const ANSWER_TIMEOUT_MS = 5_000;

/** A deploy or rollout that did not succeed: the benchmark exits non-zero. */
export class RolloutFailedError extends GrapevineError {
  constructor(message: string) {
    super('rollout_failed', message);
  }
}

/** The deploy as the coordinator recorded it, once it succeeded with a report from each of `hosts`. */
export async function checkDeploy(cluster: DevCluster, id: string, tag: string, hosts: number): Promise<Deploy> {
  const deploy = await cluster.client().getDeploy(id);
  if (deploy.status !== 'succeeded') {
    const failed = Object.values(deploy.hosts)
      .filter((host) => host.state !== 'succeeded')
      .map((host) => `${host.host} ${host.state}${host.error ? `: ${host.error}` : ''}`);
    throw new RolloutFailedError(`deploy ${id} of ${tag} ended ${deploy.status}: ${deploy.reason ?? ''} ${failed.join('; ')}`.trim());
  }
  const reported = Object.keys(deploy.hosts).length;
  if (reported !== hosts) throw new RolloutFailedError(`deploy ${id} has reports from ${reported} of ${hosts} hosts`);
  return deploy;
}

/**
 * Every production host's `colour` answers `tag` itself, HAProxy has that colour's server of
 * each host ready at its address, and the load balancer serves only `tag`.
 */
export async function checkLoadBalancer(cluster: DevCluster, tag: string, signal: AbortSignal, colour: Colour = 'blue'): Promise<void> {
  const timeout = () => AbortSignal.any([AbortSignal.timeout(ANSWER_TIMEOUT_MS), signal]);
  const production = cluster.state.hosts.filter((host) => host.env === ENV);
  for (const host of production) {
    const server = colourServer(host, colour);
    const response = await fetch(`http://${server.address}/`, { signal: timeout() });
    const body = (await response.text()).trim();
    if (response.status !== 200 || body !== `${tag} ${host.name}`) {
      throw new RolloutFailedError(`host ${host.name} (${server.name}) answered "${response.status} ${body}" after the rollout of ${tag}`);
    }
  }
  const servers = await haproxyServers(cluster.state.runtimeSocket, SAMPLE_ROLE);
  for (const host of production) {
    const { name, address } = colourServer(host, colour);
    const server = servers.find((s) => s.srv_name === name);
    if (!server || `${server.srv_addr}:${server.srv_port}` !== address || server.srv_op_state !== '2' || server.srv_admin_state !== '0') {
      const seen = server ? `addr ${server.srv_addr}:${server.srv_port}, op state ${server.srv_op_state}, admin state ${server.srv_admin_state}` : 'absent';
      throw new RolloutFailedError(`HAProxy does not have ${name} ready after the rollout of ${tag}: ${seen}`);
    }
  }
  for (let i = 0; i < 2 * production.length; i++) {
    const response = await fetch(cluster.state.lbUrl, { signal: timeout() });
    const body = (await response.text()).trim();
    if (response.status !== 200 || !body.startsWith(`${tag} `)) {
      throw new RolloutFailedError(`the load balancer answered "${response.status} ${body}" after the rollout of ${tag}`);
    }
  }
}

/** The host's load-balancer server of `colour` (`h1.blue`) and its address; the recorded one when the cluster recorded its servers. */
export function colourServer(host: DevHostState, colour: Colour): { name: string; address: string } {
  const name = serverName(host.name, colour);
  return host.servers?.find((server) => server.name === name) ?? { name, address: `${host.address}:${COLOUR_PORTS[colour]}` };
}

/** `show servers state BACKEND` through the runtime API, one row per server keyed by column name. */
export function haproxyServers(socketPath: string, backend: string): Promise<Array<Record<string, string>>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.createConnection({ path: socketPath });
    socket.setTimeout(ANSWER_TIMEOUT_MS, () => socket.destroy(new Error('HAProxy runtime API did not answer within 5 s')));
    socket.on('connect', () => socket.write(`show servers state ${backend}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', (hadError) => {
      if (hadError) return;
      const lines = Buffer.concat(chunks).toString('utf8').split('\n');
      const header = lines.find((line) => line.startsWith('# '));
      if (!header) return reject(new Error(`unexpected answer to show servers state: ${lines.slice(0, 2).join(' ')}`));
      const columns = header.slice(2).split(' ');
      const rows = lines.filter((line) => line.trim() !== '' && !line.startsWith('#') && line.includes(' '));
      resolve(rows.map((line) => Object.fromEntries(line.split(' ').map((cell, i) => [columns[i] ?? `c${i}`, cell]))));
    });
  });
}
