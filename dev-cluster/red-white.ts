// Red-white routing in the local cluster (README, "Red-white routing"): hosts that carry a
// cluster (DevHostSpec.cluster) are all of one environment, each cluster its own backend
// (`web-mobile.red`), and one more HAProxy frontend, on its own port, picks a cluster by the
// client's version with the routes the coordinator keeps and the relay applies.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { clusterName } from '../shared/contract/routing.js';
import { createRoutingFiles, type RoutedFrontend } from '../shared/haproxy/routed-frontend.js';
import type { DevClusterState, DevHostSpec } from './cluster-state.js';
import { DevClusterError } from './dev-cluster-error.js';
import { backendFor } from './sample-app.js';

/** The routed frontend's name: its files' names, the coordinator's `routing` and the relay's. */
export const ROUTED_FRONTEND = 'routed';
/** The environment `dev up --red-white N` gives its hosts (m1, m2, ...): mobile clients' API. */
export const RED_WHITE_ENV = 'mobile';

export interface RoutedEnv {
  env: string;
  /** Sorted; the first is where requests go before any route is set. */
  clusters: string[];
}

/** The one environment whose hosts carry clusters, or undefined; every host of it must carry one. */
export function routedEnvOf(hosts: readonly DevHostSpec[]): RoutedEnv | undefined {
  const clustered = hosts.filter((host) => host.cluster !== undefined);
  if (clustered.length === 0) return undefined;
  const envs = [...new Set(clustered.map((host) => host.env))];
  if (envs.length > 1) throw new DevClusterError(`hosts of one environment only may carry a cluster, not of ${envs.join(' and ')}`);
  const env = envs[0]!;
  const bare = hosts.filter((host) => host.env === env && host.cluster === undefined);
  if (bare.length > 0) throw new DevClusterError(`every host of ${env} must carry a cluster once one does; ${bare.map((h) => h.name).join(', ')} carries none`);
  for (const host of clustered) {
    if (!clusterName.safeParse(host.cluster).success) throw new DevClusterError(`host ${host.name}: cluster ${JSON.stringify(host.cluster)} must be 1-32 characters of a-z, 0-9 and -, starting with a letter`);
  }
  return { env, clusters: [...new Set(clustered.map((host) => host.cluster!))].sort() };
}

/** The backend a cluster's hosts register in. */
export function clusterBackend(env: string, cluster: string): string {
  return `${backendFor(env)}.${cluster}`;
}

export function clusterBackends(routed: RoutedEnv | undefined): string[] {
  return routed ? routed.clusters.map((cluster) => clusterBackend(routed.env, cluster)) : [];
}

export const routingDirOf = (state: Pick<DevClusterState, 'dir'>) => join(state.dir, 'routes');

/** The routed frontend HAProxy serves on `port`, its files created empty first (HAProxy refuses to start without them). */
export async function routedFrontendOf(state: DevClusterState, routed: RoutedEnv, port: number): Promise<RoutedFrontend> {
  const dir = routingDirOf(state);
  mkdirSync(dir, { recursive: true });
  const clusters = routed.clusters.map((cluster) => ({ cluster, backend: clusterBackend(routed.env, cluster) }));
  await createRoutingFiles(dir, [{ name: ROUTED_FRONTEND, clusters }]);
  return { name: ROUTED_FRONTEND, bind: `127.0.0.1:${port}`, dir, clusters };
}

/** The relay's `routing`: the frontend's clusters and their backends. */
export function relayRoutingOf(state: Pick<DevClusterState, 'dir'>, routed: RoutedEnv): Record<string, unknown> {
  const clusters = Object.fromEntries(routed.clusters.map((cluster) => [cluster, clusterBackend(routed.env, cluster)]));
  return { dir: routingDirOf(state), frontends: { [ROUTED_FRONTEND]: { clusters } } };
}

/** `count` hosts m1..mN of RED_WHITE_ENV, the first half red, the rest white. */
export function redWhiteHosts(count: number): DevHostSpec[] {
  return Array.from({ length: count }, (_, i) => ({ name: `m${i + 1}`, env: RED_WHITE_ENV, cluster: i < Math.ceil(count / 2) ? 'red' : 'white' }));
}
