// provisioning/redis/setup-redis-acl.sh against a real redis-server started from the config
// it leaves: Redis refuses a client without a user, each user gets what its rules give, the
// passwords live only in the 0600 passwords file (never in the script's output, the ACL
// file or a command line), and a second run keeps the passwords and changes nothing.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev-cluster/local-process.js';
import { PROJECT_ROOT } from '../../dev-cluster/sample-app.js';
import { until } from '../fixtures/poll.js';
import { pino } from 'pino';
import { applySettings } from '../../coordinator/flags/flag-changes.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { RedisFlagStore } from '../../shared/redis/flag-store.js';

const SCRIPT = join(PROJECT_ROOT, 'provisioning', 'redis', 'setup-redis-acl.sh');

describe('the install-time Redis ACL set-up', () => {
  let dir: string;
  let port: number;
  let server: ResultPromise | undefined;
  let firstRun: string;
  const passwords = () =>
    Object.fromEntries(
      readFileSync(join(dir, 'grapevine', 'redis-users.env'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split('=') as [string, string]),
    );
  const setUp = async () => (await execa('bash', [SCRIPT, '--redis-conf', join(dir, 'redis', 'redis.conf'), '--secrets-dir', join(dir, 'grapevine'), '--no-restart'], { stdin: 'ignore', all: true })).all;
  const client = async (user: string, password: string) => {
    const redis = new Redis({ host: '127.0.0.1', port, username: user, password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, disableClientInfo: true, protocol: 2 });
    redis.on('error', () => undefined);
    await redis.connect();
    return redis;
  };
  const reply = (redis: Redis, ...command: string[]) =>
    redis.call(command[0]!, ...command.slice(1)).then(
      (value) => value,
      (error: Error) => error.message,
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gv-redis-acl-'));
    port = await freePort();
    mkdirSync(join(dir, 'redis', 'data'), { recursive: true });
    // A Debian-like config: what the package ships, less what the test has no use for.
    writeFileSync(join(dir, 'redis', 'redis.conf'), `bind 127.0.0.1\nport ${port}\nprotected-mode no\ndir ${join(dir, 'redis', 'data')}\nsave ""\nappendonly no\n`);
    firstRun = await setUp();
    server = execa('redis-server', [join(dir, 'redis', 'redis.conf')], { stdin: 'ignore', reject: false });
    const { GRAPEVINE_REDIS_PASSWORD_ADMIN: admin } = passwords();
    await until('redis-server to answer the admin user', async () => {
      const redis = await client('admin', admin!);
      redis.disconnect();
      return true;
    }, { timeoutMs: 15_000, intervalMs: 100 });
  });

  afterAll(async () => {
    server?.kill('SIGTERM');
    await server;
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the passwords in a 0600 file only: not in its output, not in the ACL file, not on a command line', () => {
    const secrets = Object.values(passwords());
    expect(secrets).toHaveLength(4);
    expect(statSync(join(dir, 'grapevine', 'redis-users.env')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'grapevine')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'redis', 'grapevine-users.acl')).mode & 0o777).toBe(0o600);
    const acl = readFileSync(join(dir, 'redis', 'grapevine-users.acl'), 'utf8');
    for (const secret of secrets) {
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      expect(firstRun).not.toContain(secret);
      expect(acl).not.toContain(secret);
    }
    expect(readFileSync(`/proc/${server!.pid}/cmdline`, 'utf8')).not.toMatch(/[0-9a-f]{64}/);
    expect(firstRun).toContain('passwords: generated for coordinator agent relay admin');
  });

  it('turns protected mode and the append-only file on, and Redis refuses a client without a user', async () => {
    const admin = await client('admin', passwords().GRAPEVINE_REDIS_PASSWORD_ADMIN!);
    try {
      expect(await reply(admin, 'CONFIG', 'GET', 'protected-mode')).toEqual(['protected-mode', 'yes']);
      expect(await reply(admin, 'CONFIG', 'GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await reply(admin, 'CONFIG', 'GET', 'appendfsync')).toEqual(['appendfsync', 'everysec']);
    } finally {
      admin.disconnect();
    }
    const anonymous = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableReadyCheck: false, disableClientInfo: true, protocol: 2 });
    anonymous.on('error', () => undefined);
    await anonymous.connect();
    try {
      expect(await reply(anonymous, 'PING')).toMatch(/^NOAUTH/);
      expect(await reply(anonymous, 'AUTH', 'agent', 'not-the-password')).toMatch(/^WRONGPASS/);
      expect(await reply(anonymous, 'AUTH', 'default', 'anything')).toMatch(/^WRONGPASS/);
      expect(await reply(anonymous, 'GET', 'gv:deploys')).toMatch(/^NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
  });

  it("gives the agent its groups' keys only and the relay reads of credentials only", async () => {
    const { GRAPEVINE_REDIS_PASSWORD_AGENT: agentPassword, GRAPEVINE_REDIS_PASSWORD_RELAY: relayPassword, GRAPEVINE_REDIS_PASSWORD_COORDINATOR: coordinatorPassword } = passwords();
    const [agent, relay, coordinator] = await Promise.all([client('agent', agentPassword!), client('relay', relayPassword!), client('coordinator', coordinatorPassword!)]);
    try {
      expect(await reply(agent, 'SET', 'gv:{web:production}:lock:1', 'h1:x', 'PX', '1000')).toBe('OK');
      expect(await reply(agent, 'GET', 'gv:deploy:d-1')).toMatch(/^NOPERM/);
      expect(await reply(agent, 'KEYS', '*')).toMatch(/^NOPERM/);
      expect(await reply(coordinator, 'SET', 'gv:deploy:d-1', '{}')).toBe('OK');
      expect(await reply(coordinator, 'FLUSHALL')).toMatch(/^NOPERM/);
      expect(await reply(relay, 'GET', 'gv:auth:token:x')).toBeNull();
      expect(await reply(relay, 'SET', 'gv:auth:token:x', '1')).toMatch(/^NOPERM/);
    } finally {
      for (const redis of [agent, relay, coordinator]) redis.disconnect();
    }
  });

  it("lets the coordinator keep feature flags (a swap script, a MULTI read, the environments' set) and the agent not read them", async () => {
    const { GRAPEVINE_REDIS_PASSWORD_AGENT: agentPassword, GRAPEVINE_REDIS_PASSWORD_COORDINATOR: coordinatorPassword } = passwords();
    const [agent, coordinator] = await Promise.all([client('agent', agentPassword!), client('coordinator', coordinatorPassword!)]);
    try {
      const flags = new RedisFlagStore({ redis: coordinator, logger: pino({ level: 'silent' }) });
      const change = { env: 'production', name: 'new-checkout', by: 'operator ops (t-1)', at: 1 };
      await flags.change('production', 'new-checkout', (current) => applySettings(current, { percent: 10 }, change));
      expect(await flags.list('production')).toMatchObject({ flags: [{ name: 'new-checkout', percent: 10, version: 1 }], version: 1 });
      expect(await flags.envs()).toEqual(['production']);
      expect(await reply(agent, 'HGETALL', redisKeys.flags('production'))).toMatch(/^NOPERM/);
      expect(await reply(agent, 'GET', redisKeys.flagsVersion('production'))).toMatch(/^NOPERM/);
    } finally {
      for (const redis of [agent, coordinator]) redis.disconnect();
    }
  });

  it('changes nothing and keeps the passwords when run again', async () => {
    const before = passwords();
    const again = await setUp();
    expect(passwords()).toEqual(before);
    expect(again).toContain('passwords: kept from');
    expect(again).toContain('already up to date');
    expect(readFileSync(join(dir, 'redis', 'redis.conf'), 'utf8').match(/^include /gm)).toHaveLength(1);
  });
});
