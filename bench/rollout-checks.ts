// What the benchmark checks after every rollout before it counts its figures, as an
// operator would: the deploy succeeded on every host, every host answers the new tag,
// HAProxy has every host ready, and the load balancer serves only the new tag.
import net from 'node:net';
import type { DevCluster } from '../dev-cluster/dev-cluster.js';
import { APP_PORT, SAMPLE_ROLE } from '../dev-cluster/sample-app.js';
import { GrapevineError } from '../shared/contract/errors.js';
import type { Deploy } from '../shared/contract/schemas.js';

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

/** Every production host answers `tag` itself, HAProxy has each ready at its address, and the load balancer serves only `tag`. */
export async function checkLoadBalancer(cluster: DevCluster, tag: string, signal: AbortSignal): Promise<void> {
  const timeout = () => AbortSignal.any([AbortSignal.timeout(ANSWER_TIMEOUT_MS), signal]);
  const production = cluster.state.hosts.filter((host) => host.env === ENV);
  for (const host of production) {
    const response = await fetch(`http://${host.address}:${APP_PORT}/`, { signal: timeout() });
    const body = (await response.text()).trim();
    if (response.status !== 200 || body !== `${tag} ${host.name}`) {
      throw new RolloutFailedError(`host ${host.name} answered "${response.status} ${body}" after the rollout of ${tag}`);
    }
  }
  const servers = await haproxyServers(cluster.state.runtimeSocket, SAMPLE_ROLE);
  for (const host of production) {
    const server = servers.find((s) => s.srv_name === host.name);
    if (!server || server.srv_addr !== host.address || server.srv_op_state !== '2' || server.srv_admin_state !== '0') {
      const seen = server ? `addr ${server.srv_addr}, op state ${server.srv_op_state}, admin state ${server.srv_admin_state}` : 'absent';
      throw new RolloutFailedError(`HAProxy does not have ${host.name} ready after the rollout of ${tag}: ${seen}`);
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

/** `show servers state BACKEND` through the runtime API, one row per server keyed by column name. */
function haproxyServers(socketPath: string, backend: string): Promise<Array<Record<string, string>>> {
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
