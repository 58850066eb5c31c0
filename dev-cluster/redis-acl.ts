// The local cluster's Redis users: a random password each, the ACL file Redis reads them
// from (SHA-256 hashes only, mode 0600) and the config file Redis starts from, so that
// nothing secret is on its command line. The users' rules are provisioning/redis's, the
// same a production Redis gets from the install script.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DevClusterError } from './dev-cluster-error.js';
import { PROJECT_ROOT } from './sample-app.js';

export const REDIS_USERS = ['coordinator', 'agent', 'relay', 'admin'] as const;
export type RedisUser = (typeof REDIS_USERS)[number];
/** A redis:// URL with user and password for each user. */
export type RedisUsers = Record<RedisUser, string>;

export const ACL_TEMPLATE = join(PROJECT_ROOT, 'provisioning', 'redis', 'users.acl.template');
const PASSWORD_BYTES = 32;

/** A fresh random password for every user, as URLs that reach Redis at `host:port`. */
export function newRedisUsers(host: string, port: number): RedisUsers {
  const url = (user: RedisUser) => `redis://${user}:${randomBytes(PASSWORD_BYTES).toString('hex')}@${host}:${port}`;
  return { coordinator: url('coordinator'), agent: url('agent'), relay: url('relay'), admin: url('admin') };
}

/**
 * The ACL file from the template: each user's line gains `on #<sha256 of its password>`
 * after its name; the default user's line is kept as it is (off). Comments and blank lines
 * go, since Redis reads only `user` lines from an ACL file.
 */
export function aclFileText(template: string, users: RedisUsers): string {
  const seen = new Set<string>();
  const lines = template
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [word, name, ...rules] = line.split(/\s+/);
      if (word !== 'user' || name === undefined) throw new DevClusterError(`${ACL_TEMPLATE}: not a user line: "${line}"`);
      if (name === 'default') return line;
      if (!(REDIS_USERS as readonly string[]).includes(name)) throw new DevClusterError(`${ACL_TEMPLATE}: unknown user "${name}"`);
      seen.add(name);
      return ['user', name, 'on', `#${sha256(passwordOf(users[name as RedisUser]))}`, ...rules].join(' ');
    });
  const missing = REDIS_USERS.filter((user) => !seen.has(user));
  if (missing.length > 0) throw new DevClusterError(`${ACL_TEMPLATE} has no line for ${missing.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** The password a user URL carries. */
export function passwordOf(url: string): string {
  const password = decodeURIComponent(new URL(url).password);
  if (password === '') throw new DevClusterError(`a Redis user URL carries no password (${new URL(url).username || 'no user'})`);
  return password;
}

/**
 * Writes the ACL file and the config file of the cluster's Redis (both 0600) and returns
 * the config file's path, the one argument redis-server is started with.
 */
export function writeRedisConfig(state: { dir: string; ports: { redis: number }; redisUsers: RedisUsers }, bind: string[], dataDir: string): string {
  const aclFile = join(state.dir, 'redis-users.acl');
  writeFileSync(aclFile, aclFileText(readFileSync(ACL_TEMPLATE, 'utf8'), state.redisUsers), { mode: 0o600 });
  const configFile = join(state.dir, 'redis.conf');
  // The append-only file, synced every second, in a dir kept across `chaos restart-redis`:
  // a kill -9 loses at most the last second of writes, as on a host set up for production.
  const config = [
    `bind ${bind.join(' ')}`,
    `port ${state.ports.redis}`,
    'protected-mode yes',
    `dir ${dataDir}`,
    'save ""',
    'appendonly yes',
    'appendfsync everysec',
    `aclfile ${aclFile}`,
  ];
  writeFileSync(configFile, `${config.join('\n')}\n`, { mode: 0o600 });
  return configFile;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
