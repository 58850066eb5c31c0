// Which Redis the local cluster runs: one server (the default), a three-master Redis Cluster,
// or a primary and a replica behind three Sentinels (`dev up --redis cluster|sentinel`). Each
// process's config gets its user's setting for it; the operator, the tests and the benchmark
// keep the admin user's URL of one data server in the state's redisUrl.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisSetting } from '../shared/contract/redis-config.js';
import { ValidationError } from '../shared/contract/errors.js';
import { gatewayOf, type DevClusterState } from './cluster-state.js';
import { stopProcess, type StartedProcess } from './local-process.js';
import { ACL_TEMPLATE, REDIS_USERS, aclFileText, passwordOf, type RedisUser } from './redis-acl.js';
import { SENTINEL_PRIMARY_NAME, startRedisCluster, startRedisSentinel, type RedisNode } from './redis-topology.js';

export const REDIS_MODES = ['single', 'cluster', 'sentinel'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

/** What the state records of a Cluster or Sentinel set-up: its processes and each user's setting. */
export interface RedisTopologyState {
  mode: Exclude<RedisMode, 'single'>;
  /** Every server and Sentinel, by name (cluster-1.., or primary, replica, sentinel-1..): what `dev down` stops. */
  nodes: Array<{ name: string; port: number; process: StartedProcess }>;
  settings: Record<RedisUser, RedisSetting>;
}

export function redisModeOf(text: string): RedisMode {
  if ((REDIS_MODES as readonly string[]).includes(text)) return text as RedisMode;
  throw new ValidationError(`--redis must be one of ${REDIS_MODES.join(', ')}, not "${text}"`);
}

/** The setting a process of the cluster gets for `user`: its URL on a single Redis. */
export function redisSettingOf(state: Pick<DevClusterState, 'redisUsers' | 'redisTopology'>, user: RedisUser): RedisSetting {
  return state.redisTopology?.settings[user] ?? state.redisUsers[user];
}

/** Starts the Cluster or Sentinel set-up on the cluster's gateway address and records it in the state. */
export async function startRedisTopology(state: DevClusterState, mode: Exclude<RedisMode, 'single'>, log: (line: string) => void): Promise<void> {
  const host = gatewayOf(state.subnet);
  const options = {
    dir: join(state.dir, 'redis'),
    host,
    alsoBind: ['127.0.0.1'],
    aclText: aclFileText(readFileSync(ACL_TEMPLATE, 'utf8'), state.redisUsers),
    adminPassword: passwordOf(state.redisUsers.admin),
  };
  const userUrl = (user: RedisUser, port: number) => {
    const url = new URL(state.redisUsers[user]);
    url.port = String(port);
    return url.toString();
  };
  let nodes: RedisNode[];
  let settingFor: (user: RedisUser) => RedisSetting;
  if (mode === 'cluster') {
    nodes = await startRedisCluster(options);
    settingFor = (user) => ({ cluster: nodes.map((node) => userUrl(user, node.port)) });
    log(`redis cluster of three masters on ${nodes.map((node) => `${host}:${node.port}`).join(', ')}`);
  } else {
    const setUp = await startRedisSentinel(options);
    nodes = [setUp.primary, setUp.replica, ...setUp.sentinels];
    const sentinels = setUp.sentinels.map((node) => `${host}:${node.port}`);
    settingFor = (user) => ({ sentinels, name: SENTINEL_PRIMARY_NAME, user, password: passwordOf(state.redisUsers[user]) });
    log(`redis primary ${host}:${setUp.primary.port}, replica ${host}:${setUp.replica.port}, sentinels ${sentinels.join(', ')} (primary "${SENTINEL_PRIMARY_NAME}")`);
  }
  const settings = Object.fromEntries(REDIS_USERS.map((user) => [user, settingFor(user)])) as Record<RedisUser, RedisSetting>;
  state.redisTopology = { mode, nodes: nodes.map(({ name, port, process }) => ({ name, port, process })), settings };
  state.redisUrl = userUrl('admin', nodes[0]!.port);
}

export async function stopRedisTopology(state: Pick<DevClusterState, 'redisTopology'>): Promise<void> {
  await Promise.all((state.redisTopology?.nodes ?? []).map((node) => stopProcess(node.process)));
}
