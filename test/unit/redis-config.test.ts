// The Redis setting every process accepts (one URL, a Cluster seed list, Sentinels and a
// primary's name): what it refuses, naming the field, and that no password reaches a description.
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { RedisSetting, describeRedisSetting, redisTarget } from '../../shared/contract/redis-config.js';
import { clusterKeySlot } from '../../shared/contract/redis-key-slot.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { describeIssues } from '../../shared/contract/schemas.js';

const problem = (redis: unknown) => {
  const result = z.object({ redis: RedisSetting }).safeParse({ redis });
  return result.success ? 'accepted' : describeIssues(result.error);
};

describe('the Redis setting', () => {
  it('accepts a URL as before, and the three object forms', () => {
    expect(redisTarget('redis://agent:pw@10.0.0.1:6379')).toEqual({ kind: 'single', url: 'redis://agent:pw@10.0.0.1:6379' });
    expect(redisTarget({ url: 'redis://10.0.0.1' })).toEqual({ kind: 'single', url: 'redis://10.0.0.1' });
    expect(redisTarget({ cluster: ['redis://a:p@10.0.0.1:7001', 'redis://a:p@10.0.0.2:7001'] })).toEqual({ kind: 'cluster', urls: ['redis://a:p@10.0.0.1:7001', 'redis://a:p@10.0.0.2:7001'] });
    const sentinel = redisTarget({ sentinels: ['10.0.0.1:26379', '[::1]:26380'], name: 'gv-main', user: 'agent', password: 'pw' });
    expect(sentinel.kind === 'sentinel' && sentinel.setting).toMatchObject({ name: 'gv-main', tls: false });
  });

  it('refuses a bad setting, naming the field', () => {
    expect(problem('http://10.0.0.1')).toBe('redis must be a redis:// URL');
    expect(problem({ cluster: [] })).toBe('redis.cluster must name at least one node');
    expect(problem({ cluster: ['redis://a:p@h:1', 'redis://b:p@h:2'] })).toMatch(/^redis\.cluster\.1 must carry the same user, password and scheme as cluster\.0/);
    expect(problem({ cluster: ['redis://h:1/3'] })).toBe('redis.cluster.0 must name no database: a Redis Cluster has only database 0');
    expect(problem({ sentinels: ['10.0.0.1'], name: 'gv' })).toBe('redis.sentinels.0 must be host:port');
    expect(problem({ sentinels: ['10.0.0.1:70000'], name: 'gv' })).toBe('redis.sentinels.0 must be host:port');
    expect(problem({ sentinels: ['10.0.0.1:26379'], name: 'has space' })).toMatch(/^redis\.name must be the monitored primary's name/);
    expect(problem({ sentinels: [], name: 'gv' })).toBe('redis.sentinels must name at least one Sentinel');
    expect(problem({ nodes: ['redis://h:1'] })).toMatch(/^redis must be a redis:\/\/ URL, \{ url \}, \{ cluster/);
  });

  it('describes a setting without its password', () => {
    expect(describeRedisSetting('redis://agent:secret@10.0.0.1:6379')).not.toContain('secret');
    expect(describeRedisSetting({ cluster: ['redis://agent:secret@10.0.0.1:7001'] })).not.toContain('secret');
    const sentinel = describeRedisSetting({ sentinels: ['10.0.0.1:26379'], name: 'gv', user: 'agent', password: 'secret', tls: false });
    expect(sentinel).toBe('the primary "gv" of the Sentinels 10.0.0.1:26379');
  });
});

describe('cluster key slots', () => {
  it("compute Redis Cluster's CLUSTER KEYSLOT (CRC16 of the hash tag or the whole key)", () => {
    // Values from the Redis Cluster specification and `redis-cli cluster keyslot`.
    expect(clusterKeySlot('123456789')).toBe(0x31c3 % 16384);
    expect(clusterKeySlot('foo')).toBe(12182);
    expect(clusterKeySlot('{user1000}.following')).toBe(clusterKeySlot('{user1000}.followers'));
    // The first { and the first } after it; an empty tag hashes the whole key.
    expect(clusterKeySlot('foo{bar}{zap}')).toBe(clusterKeySlot('bar'));
    expect(clusterKeySlot('foo{{bar}}zap')).toBe(clusterKeySlot('{bar'));
    expect(clusterKeySlot('foo{}{bar}')).not.toBe(clusterKeySlot('foo{}{bar}x'));
  });

  it('put the keys written together in one slot', () => {
    const group = ['slot', 'waiters', 'outOfService', 'epoch', 'freeze', 'held'] as const;
    expect(new Set(group.map((key) => clusterKeySlot(redisKeys[key]('web', 'production', 1 as never)))).size).toBe(1);
    expect(clusterKeySlot(redisKeys.credentials())).toBe(clusterKeySlot(redisKeys.credentialByToken('ab'.repeat(32))));
    expect(clusterKeySlot(redisKeys.flags('production'))).toBe(clusterKeySlot(redisKeys.flagsVersion('production')));
  });
});
