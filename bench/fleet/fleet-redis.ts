// The fleet bench's own Redis: a redis-server process on a free loopback port, with the
// dev cluster's ACL users (coordinator, agent, admin; passwords only in its 0600 config and
// ACL files), the append-only file as in production, and room for every simulated host's
// connections. Its figures are read through INFO by the admin user.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pollUntil, within } from '../../shared/contract/waiting.js';
import { freePort } from '../../dev-cluster/free-port.js';
import { newRedisUsers, writeRedisConfig, type RedisUsers } from '../../dev-cluster/redis-acl.js';
import { parseCommandStats, type CommandCounts } from '../measure.js';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
/** Redis raises its own open-file limit to maxclients + 32 when the hard limit allows; it stays below this. */
const MAX_CLIENTS_CEILING = 19_000;
/** Beyond the hosts' own: the coordinator's, the probe's, and room for a second connection per waiting host. */
export function maxClientsFor(hosts: number): number {
  return Math.min(MAX_CLIENTS_CEILING, Math.max(10_000, 2 * hosts + 1_000));
}

export interface RedisFigures {
  commands: CommandCounts;
  /** used_cpu_sys + used_cpu_user, seconds. */
  cpuSeconds: number;
  usedMemory: number;
  connectedClients: number;
}

export interface FleetRedis {
  users: RedisUsers;
  maxClients: number;
  figures(): Promise<RedisFigures>;
  /** Memory and clients only: cheap enough to read every few hundred ms during a deploy. */
  gauges(): Promise<Pick<RedisFigures, 'usedMemory' | 'connectedClients'>>;
  stop(): Promise<void>;
}

export async function startFleetRedis(dir: string, hosts: number): Promise<FleetRedis> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const users = newRedisUsers('127.0.0.1', port);
  const config = writeRedisConfig({ dir, ports: { redis: port }, redisUsers: users }, ['127.0.0.1'], join(dir, 'data'));
  const maxClients = maxClientsFor(hosts);
  appendFileSync(config, `maxclients ${maxClients}\n`);
  const log = openSync(join(dir, 'redis.log'), 'a');
  let child: ChildProcess;
  try {
    child = spawn('redis-server', [config], { stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const probe = new Redis(users.admin, { lazyConnect: true, maxRetriesPerRequest: 1, enableReadyCheck: false, disableClientInfo: true, retryStrategy: () => null });
  probe.on('error', () => undefined);
  const stop = async () => {
    probe.disconnect();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await within(exited, STOP_TIMEOUT_MS);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    await pollUntil(`the fleet bench's Redis on port ${port} to answer`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}; see ${join(dir, 'redis.log')}`);
      return (await probe.connect().then(() => probe.ping()).catch(() => undefined)) === 'PONG' ? true : undefined;
    }, { timeoutMs: START_TIMEOUT_MS, intervalMs: 100 });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    users,
    maxClients,
    async gauges() {
      const info = String(await probe.call('INFO', 'memory', 'clients'));
      return { usedMemory: infoField(info, 'used_memory'), connectedClients: infoField(info, 'connected_clients') };
    },
    async figures() {
      const info = await probe.info('everything');
      const field = (name: string) => infoField(info, name);
      return {
        commands: parseCommandStats(info),
        cpuSeconds: field('used_cpu_sys') + field('used_cpu_user'),
        usedMemory: field('used_memory'),
        connectedClients: field('connected_clients'),
      };
    },
    stop,
  };
}

function infoField(info: string, name: string): number {
  return Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
}
