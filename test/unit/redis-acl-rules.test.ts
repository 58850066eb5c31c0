// The Redis users' rules (provisioning/redis/users.acl.template) against what Grapevine
// sends: every command a Lua script calls is allowed to both users that run scripts, every
// key name the agents use matches the agent's patterns and none of the coordinator's own
// keys does, and the ACL file written from the template holds hashes, never passwords.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACL_TEMPLATE, aclFileText, newRedisUsers, passwordOf } from '../../dev-cluster/redis-acl.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { scriptSources } from '../../shared/redis/scripts.js';

const template = readFileSync(ACL_TEMPLATE, 'utf8');

/** A user's rules from the template: allowed commands (lower case) and key patterns. */
function rulesOf(user: string): { commands: Set<string>; patterns: string[] } {
  const line = template.split('\n').find((l) => l.startsWith(`user ${user} `));
  if (!line) throw new Error(`no line for ${user}`);
  const words = line.split(/\s+/);
  return {
    commands: new Set(words.filter((w) => w.startsWith('+')).map((w) => w.slice(1).toLowerCase())),
    patterns: words.filter((w) => /^(%R)?~/.test(w)).map((w) => w.replace(/^(%R)?~/, '')),
  };
}

/** Redis's glob for key patterns, as far as the template uses it (`*` only). */
const matches = (pattern: string, key: string) => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(key);
const allowedKey = (user: string, key: string) => rulesOf(user).patterns.some((pattern) => matches(pattern, key));

describe('Redis ACL rules', () => {
  const commandsOf = (files: (file: string) => boolean) =>
    new Set(scriptSources().filter(({ file }) => files(file)).flatMap(({ lua }) => [...lua.matchAll(/redis\.p?call\(\s*'([A-Za-z]+)'/g)].map((m) => m[1]!.toLowerCase())));
  /** The scripts of the slot locks, the wait queue, the fleet state and the job lock: what an agent runs. */
  const agentScripts = new Set(['acquire-slot-16.lua', 'release-slot-6.lua', 'renew-slot-2.lua', 'renew-lease-1.lua', 'wake-next.lua', 'leave-queue-4.lua', 'back-in-service-3.lua', 'mark-broken.lua', 'finish-host-2.lua', 'claim-job-5.lua', 'record-job-2.lua', 'delete-if-held-1.lua']);

  it('allow every command a Lua script calls to the users that run it: the agent its own scripts, the coordinator all', () => {
    const called = { agent: commandsOf((file) => agentScripts.has(file)), coordinator: commandsOf(() => true) };
    expect(called.agent.size).toBeGreaterThan(10);
    for (const user of ['agent', 'coordinator'] as const) {
      const { commands } = rulesOf(user);
      expect([...called[user]].filter((command) => !commands.has(command)), user).toEqual([]);
      for (const command of ['eval', 'evalsha', 'info', 'ping']) expect(commands.has(command), `${user} ${command}`).toBe(true);
    }
  });

  it("give the agent its groups' keys and none of the coordinator's", () => {
    const group = [
      redisKeys.slot('web', 'production', 1),
      redisKeys.waiters('web', 'production'),
      redisKeys.wake('web', 'staging', 'h1:abc'),
      redisKeys.outOfService('api', 'production'),
      redisKeys.epoch('web', 'production'),
      redisKeys.deployStopped('web', 'production', 'd-1'),
      redisKeys.remaining('web', 'production', 'd-1'),
      redisKeys.finishedHosts('web', 'production', 'd-1'),
      redisKeys.broken('web', 'production', 'v2'),
      redisKeys.job('web', 'production', 'd-1'),
      redisKeys.jobLock('web', 'production', 'd-1'),
      redisKeys.jobAttempts('web', 'production', 'd-1'),
      redisKeys.freeze('web', 'production'),
      redisKeys.gate('web', 'production', 'd-1'),
      redisKeys.held('web', 'production'),
    ];
    const coordinatorOwn = [
      redisKeys.releases('web'),
      redisKeys.deploy('d-1'),
      redisKeys.deployHosts('d-1'),
      redisKeys.deploys(),
      redisKeys.deploysOfRole('web'),
      redisKeys.deploysOfEnv('production'),
      redisKeys.deploysOfGroup('web', 'production'),
      redisKeys.desired('web', 'production'),
      redisKeys.deploySeq('web', 'production'),
      redisKeys.deploysInProgress(),
      redisKeys.envsOfRole('web'),
      redisKeys.promotionClaim('d-1'),
      redisKeys.flags('production'),
      redisKeys.flagsVersion('production'),
      redisKeys.flagEnvs(),
      redisKeys.credentialByToken('abc'),
      redisKeys.credentials(),
      // Hash-tagged keys outside a group must not look like one to the agents' `gv:{*}:*`.
      redisKeys.coordinatorLease(),
      redisKeys.coordinatorLeaseEpoch(),
      redisKeys.createdByRequest('r-1'),
    ];
    for (const key of group) expect(allowedKey('agent', key) && allowedKey('coordinator', key), key).toBe(true);
    for (const key of coordinatorOwn) {
      expect(allowedKey('coordinator', key), key).toBe(true);
      expect(allowedKey('agent', key), key).toBe(false);
    }
    expect(rulesOf('relay').patterns).toEqual(['gv:auth:*']);
    expect(template).toMatch(/^user relay .*%R~gv:auth:\* /m);
  });

  it('give no user but admin a command that reads every key or changes the server', () => {
    for (const user of ['agent', 'coordinator', 'relay']) {
      const { commands } = rulesOf(user);
      for (const command of ['keys', 'flushall', 'flushdb', 'config', 'acl', 'monitor', 'debug', 'shutdown', 'script', '@all', '@dangerous']) {
        expect(commands.has(command), `${user} ${command}`).toBe(false);
      }
    }
    expect(template).toMatch(/^user default off /m);
  });

  it('write an ACL file of SHA-256 hashes, with no password in it', () => {
    const users = newRedisUsers('10.0.0.1', 6379);
    const acl = aclFileText(template, users);
    for (const [user, url] of Object.entries(users)) {
      const password = passwordOf(url);
      expect(password).toMatch(/^[0-9a-f]{64}$/);
      expect(acl).not.toContain(password);
      expect(acl).toContain(`user ${user} on #${createHash('sha256').update(password).digest('hex')} `);
    }
    expect(acl).not.toMatch(/^#/m);
    expect(acl.trim().split('\n')).toHaveLength(5);
  });

  it('refuse a template without a line for one of the users', () => {
    const users = newRedisUsers('10.0.0.1', 6379);
    expect(() => aclFileText(template.replace(/^user relay .*$/m, ''), users)).toThrow(/no line for relay/);
  });
});
