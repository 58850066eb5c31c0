// Local Redis set-ups beyond one server, from Debian's redis-server and redis-sentinel: a
// Redis Cluster of three masters, or a primary with one replica watched by three Sentinels.
// Every server reads its users from the same ACL file and its settings from a 0600 config
// file, so no password reaches a command line; the Sentinels and the replica log in to the
// data servers as the admin user, from their own config files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { pollUntil } from '../shared/contract/waiting.js';
import { DevClusterError } from './dev-cluster-error.js';
import { freePort } from './free-port.js';
import { startDetached, type StartedProcess } from './local-process.js';

export const SENTINEL_PRIMARY_NAME = 'gv-main';
const START_TIMEOUT_MS = 20_000;
const CHECK_TIMEOUT_MS = 2_000;

export interface RedisTopologyOptions {
  /** Each server's config, data and log under here. */
  dir: string;
  /** The address the servers listen on and announce (what the hosts and clients reach). */
  host: string;
  /** Further addresses to listen on (loopback for the operator's redis-cli). */
  alsoBind?: string[];
  /** The ACL file's text (dev-cluster/redis-acl.ts aclFileText). */
  aclText: string;
  /** The admin user's password: how the replica, the Sentinels and the set-up log in. */
  adminPassword: string;
}

export interface RedisNode {
  name: string;
  port: number;
  process: StartedProcess;
}

/** Three masters (no replicas) with the 16384 slots split between them. */
export async function startRedisCluster(options: RedisTopologyOptions): Promise<RedisNode[]> {
  const nodes: RedisNode[] = [];
  for (const name of ['cluster-1', 'cluster-2', 'cluster-3']) {
    const port = await freePort();
    // The cluster bus on a port of its own: port+10000 could fall in the kernel's ephemeral range.
    const busPort = await freePort();
    nodes.push(startServer(options, name, port, [`cluster-enabled yes`, `cluster-config-file nodes.conf`, `cluster-port ${busPort}`, 'cluster-node-timeout 2000', `cluster-announce-ip ${options.host}`]));
  }
  await Promise.all(nodes.map((node) => untilAnswers(options, node)));
  const addresses = nodes.map((node) => `${options.host}:${node.port}`);
  await execa('redis-cli', ['--user', 'admin', '--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
    env: { REDISCLI_AUTH: options.adminPassword },
    stdin: 'ignore',
    timeout: START_TIMEOUT_MS,
  });
  await pollUntil('the Redis Cluster to cover every slot', async () => {
    const states = await Promise.all(nodes.map((node) => cli(options, node.port, ['cluster', 'info'])));
    return states.every((info) => /cluster_state:ok/.test(info)) ? true : undefined;
  }, { timeoutMs: START_TIMEOUT_MS, intervalMs: 100 });
  return nodes;
}

export interface SentinelSetUp {
  primary: RedisNode;
  replica: RedisNode;
  sentinels: RedisNode[];
}

/** A primary, its replica and three Sentinels (quorum 2) that promote the replica about 1 s after the primary stops answering. */
export async function startRedisSentinel(options: RedisTopologyOptions): Promise<SentinelSetUp> {
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  // Either may be the replica after a failover: both log in to the other as admin, and each
  // names the address the Sentinels must reach it at (the source address of its connection
  // to the primary may be another interface's).
  const replicaAuth = ['masteruser admin', `masterauth ${options.adminPassword}`, `replica-announce-ip ${options.host}`];
  const primary = startServer(options, 'primary', primaryPort, replicaAuth);
  const replica = startServer(options, 'replica', replicaPort, [...replicaAuth, `replicaof ${options.host} ${primaryPort}`]);
  await Promise.all([primary, replica].map((node) => untilAnswers(options, node)));
  await pollUntil('the replica in sync', async () => (/master_link_status:up/.test(await cli(options, replicaPort, ['info', 'replication'])) ? true : undefined), {
    timeoutMs: START_TIMEOUT_MS,
    intervalMs: 100,
  });
  const sentinels: RedisNode[] = [];
  for (const name of ['sentinel-1', 'sentinel-2', 'sentinel-3']) {
    const port = await freePort();
    const dir = join(options.dir, name);
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'sentinel.conf');
    // Sentinel rewrites its own config file (the known replicas, the epoch): it stays in the node's dir.
    const lines = [
      `port ${port}`,
      `bind ${[options.host, ...(options.alsoBind ?? [])].join(' ')}`,
      `dir ${dir}`,
      `sentinel announce-ip ${options.host}`,
      `sentinel monitor ${SENTINEL_PRIMARY_NAME} ${options.host} ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_PRIMARY_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_PRIMARY_NAME} 5000`,
      `sentinel auth-user ${SENTINEL_PRIMARY_NAME} admin`,
      `sentinel auth-pass ${SENTINEL_PRIMARY_NAME} ${options.adminPassword}`,
    ];
    writeFileSync(config, `${lines.join('\n')}\n`, { mode: 0o600 });
    sentinels.push({ name, port, process: startDetached('redis-sentinel', [config], join(options.dir, `${name}.log`), `:${port}`) });
  }
  await pollUntil('the Sentinels to see each other and the replica', async () => {
    const views = await Promise.all(sentinels.map((node) => cli(options, node.port, ['sentinel', 'master', SENTINEL_PRIMARY_NAME], false)));
    return views.every((view) => /^num-other-sentinels\n2$/m.test(view) && /^num-slaves\n1$/m.test(view)) ? true : undefined;
  }, { timeoutMs: START_TIMEOUT_MS, intervalMs: 200 });
  return { primary, replica, sentinels };
}

function startServer(options: RedisTopologyOptions, name: string, port: number, extra: string[]): RedisNode {
  const dir = join(options.dir, name);
  mkdirSync(dir, { recursive: true });
  const aclFile = join(dir, 'users.acl');
  writeFileSync(aclFile, options.aclText, { mode: 0o600 });
  const config = join(dir, 'redis.conf');
  const lines = [
    `bind ${[options.host, ...(options.alsoBind ?? [])].join(' ')}`,
    `port ${port}`,
    'protected-mode yes',
    `dir ${dir}`,
    'save ""',
    'appendonly yes',
    'appendfsync everysec',
    `aclfile ${aclFile}`,
    ...extra,
  ];
  writeFileSync(config, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { name, port, process: startDetached('redis-server', [config], join(options.dir, `${name}.log`), `:${port}`) };
}

async function untilAnswers(options: RedisTopologyOptions, node: RedisNode): Promise<void> {
  await pollUntil(`redis ${node.name}`, async () => ((await cli(options, node.port, ['ping']).catch(() => '')) === 'PONG' ? true : undefined), {
    timeoutMs: START_TIMEOUT_MS,
    intervalMs: 100,
  });
}

/** redis-cli as admin (the password in its environment), or without a user for a Sentinel. */
async function cli(options: RedisTopologyOptions, port: number, args: string[], asAdmin = true): Promise<string> {
  const auth = asAdmin ? ['--user', 'admin'] : [];
  const result = await execa('redis-cli', ['-h', options.host, '-p', String(port), ...auth, ...args], {
    env: asAdmin ? { REDISCLI_AUTH: options.adminPassword } : {},
    stdin: 'ignore',
    timeout: CHECK_TIMEOUT_MS,
    reject: false,
  });
  if (result.exitCode !== 0 && result.stdout === '') throw new DevClusterError(`redis-cli on port ${port}: ${result.stderr || 'no answer'}`);
  return result.stdout;
}
