// Redis behind ACLs, as an operator checks it on a running cluster: a deploy runs with no
// command refused to the coordinator or the agents; each connects as its own user; from
// inside an app container, which shares its host's network, Redis refuses everything
// without the right user; the agents' user, taken from a host's own config file, reads
// none of the coordinator's keys and runs no admin command.
import { readFileSync, statSync } from 'node:fs';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { expect, it } from 'vitest';
import { redisKeys } from '../../../shared/contract/redis-keys.js';
import type { TestCluster } from '../../fixtures/cluster.js';

const COMMAND_TIMEOUT_MS = 5_000;

export function redisAclChecks(cluster: () => TestCluster): void {
  const connect = (url: string) => {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: COMMAND_TIMEOUT_MS, retryStrategy: () => null, disableClientInfo: true, protocol: 2 });
    redis.on('error', () => undefined);
    return redis;
  };
  const asAdmin = async <T>(use: (redis: Redis) => Promise<T>): Promise<T> => {
    const redis = connect(cluster().state().redisUrl);
    try {
      await redis.connect();
      return await use(redis);
    } finally {
      redis.disconnect();
    }
  };
  /** The reply Redis gives `command`, or its refusal as text. */
  const reply = (redis: Redis, command: string, ...args: string[]) =>
    redis.call(command, ...args).then(
      (value) => value,
      (error: Error) => error.message,
    );

  it('runs a whole deploy with no command refused to the coordinator or the agents, each connected as its own user', async () => {
    await asAdmin((redis) => redis.call('ACL', 'LOG', 'RESET'));
    const { exitCode, deploy } = await cluster().deploy('web', 'production', 'v1');
    expect(exitCode).toBe(0);
    expect(deploy.status).toBe('succeeded');
    const [refused, clients] = await asAdmin(async (redis) => [(await redis.call('ACL', 'LOG')) as unknown[], String(await redis.call('CLIENT', 'LIST'))]);
    expect(refused).toEqual([]);
    // Each client's address and user, as CLIENT LIST names them.
    const users = clients
      .trim()
      .split('\n')
      .map((line) => ({ addr: /\baddr=(\S+)/.exec(line)?.[1] ?? '', user: /\buser=(\S+)/.exec(line)?.[1] ?? '' }));
    const hostAddresses = cluster().state().hosts.map((host) => host.address);
    const fromHosts = users.filter((client) => hostAddresses.includes(client.addr.replace(/:\d+$/, '')));
    expect(fromHosts.length).toBeGreaterThanOrEqual(hostAddresses.length);
    expect(new Set(fromHosts.map((client) => client.user))).toEqual(new Set(['agent']));
    expect(users.map((client) => client.user)).toContain('coordinator');
  });

  it('refuses, from inside an app container, every command without the right user', async () => {
    const state = cluster().state();
    const host = state.hosts[0]!;
    const { stdout: ids } = await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${host.project}`], { stdin: 'ignore' });
    const container = ids.split('\n')[0];
    expect(container, `an app container of ${host.name}`).toBeTruthy();
    const redisAddress = new URL(state.redisUrl);
    // Inline commands over a plain TCP connection, as anything running in the app could send them.
    const session = async (lines: string[]) =>
      (
        await execa('docker', ['exec', '-i', container!, 'busybox', 'nc', '-w', '5', redisAddress.hostname, redisAddress.port], {
          input: `${[...lines, 'QUIT'].join('\r\n')}\r\n`,
          timeout: 15_000,
        })
      ).stdout
        .split(/\r?\n/)
        .filter((line) => line !== '');
    const anonymous = await session(['PING', `GET ${redisKeys.desired('web', 'production')}`, 'KEYS *', 'CONFIG GET requirepass']);
    expect(anonymous.slice(0, 4)).toEqual(Array(4).fill('-NOAUTH Authentication required.'));
    const guessed = await session(['AUTH agent not-the-password', 'AUTH default anything', 'AUTH admin ""', 'PING']);
    expect(guessed.slice(0, 3).every((line) => line.startsWith('-WRONGPASS'))).toBe(true);
    expect(guessed[3]).toBe('-NOAUTH Authentication required.');
  });

  it("lets the agents' user, read from a host's own config, read none of the coordinator's keys nor run admin commands", async () => {
    const state = cluster().state();
    const agentUrl = (parseYaml(readFileSync(state.hosts[0]!.agentConfig, 'utf8')) as { redis: string }).redis;
    expect(new URL(agentUrl).username).toBe('agent');
    const deployId = await asAdmin(async (redis) => (await redis.zrevrange(redisKeys.deploys(), 0, 0))[0]);
    expect(deployId).toBeTruthy();
    const agent = connect(agentUrl);
    try {
      await agent.connect();
      const noperm = /^NOPERM/;
      expect(await reply(agent, 'GET', redisKeys.deploy(deployId!))).toMatch(noperm);
      expect(await reply(agent, 'HGETALL', redisKeys.deployHosts(deployId!))).toMatch(noperm);
      expect(await reply(agent, 'HGETALL', redisKeys.releases('web'))).toMatch(noperm);
      expect(await reply(agent, 'GET', redisKeys.desired('web', 'production'))).toMatch(noperm);
      expect(await reply(agent, 'GET', 'gv:auth:anything')).toMatch(noperm);
      for (const command of [['KEYS', '*'], ['SCAN', '0'], ['FLUSHALL'], ['CONFIG', 'GET', '*'], ['ACL', 'LIST'], ['MONITOR'], ['SCRIPT', 'FLUSH'], ['CLIENT', 'LIST']]) {
        expect(await reply(agent, command[0]!, ...command.slice(1)), command.join(' ')).toMatch(noperm);
      }
      // Its own group's keys stay open to it: the rollout just ran through them.
      expect(await reply(agent, 'SMEMBERS', redisKeys.outOfService('web', 'production'))).toEqual([]);
    } finally {
      agent.disconnect();
    }
    const relay = connect(state.redisUsers.relay);
    try {
      await relay.connect();
      expect(await reply(relay, 'SET', 'gv:auth:anything', 'x')).toMatch(/^NOPERM/);
      expect(await reply(relay, 'GET', redisKeys.deploy(deployId!))).toMatch(/^NOPERM/);
      expect(await reply(relay, 'GET', 'gv:auth:anything')).toBeNull();
    } finally {
      relay.disconnect();
    }
  });

  it('keeps the users in a 0600 ACL file that holds hashes only, with protected mode on', async () => {
    const state = cluster().state();
    const aclFile = `${state.dir}/redis-users.acl`;
    expect(statSync(aclFile).mode & 0o777).toBe(0o600);
    const acl = readFileSync(aclFile, 'utf8');
    for (const url of Object.values(state.redisUsers)) expect(acl).not.toContain(new URL(url).password);
    expect(acl).toMatch(/^user agent on #[0-9a-f]{64} /m);
    expect(acl).toMatch(/^user default off /m);
    expect(await asAdmin((redis) => redis.call('CONFIG', 'GET', 'protected-mode'))).toEqual(['protected-mode', 'yes']);
  });
}
