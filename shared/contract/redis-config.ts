// Where a process finds its Redis: one server's URL (as before), a Redis Cluster's seed
// list, or Sentinels and the name of the primary they watch. The user and password travel
// as they always did, in the config file (or GRAPEVINE_REDIS_URL), never on a command line.
import * as z from 'zod';

const redisUrl = z.string().regex(/^rediss?:\/\/[^/]/, 'must be a redis:// URL');

/** host:port of one Sentinel (IPv6 in brackets). */
const sentinelAddress = z.string().refine((text) => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  return match !== null && Number(match[2]) <= 65535;
}, 'must be host:port');

export const RedisUrlSetting = z.strictObject({ url: redisUrl });

export const RedisClusterSetting = z
  .strictObject({
    /** A few of the cluster's nodes: the client learns the rest, and who holds which slot, from any of them. */
    cluster: z.array(redisUrl).min(1, 'must name at least one node'),
  })
  .superRefine(({ cluster }, context) => {
    const first = credentialsOf(cluster[0]!);
    cluster.forEach((url, index) => {
      const parsed = parsedUrl(url);
      if (parsed === undefined) return context.addIssue({ code: 'custom', path: ['cluster', index], message: 'must be a redis:// URL' });
      if (!['', '/', '/0'].includes(parsed.pathname)) context.addIssue({ code: 'custom', path: ['cluster', index], message: 'must name no database: a Redis Cluster has only database 0' });
      const own = credentialsOf(url);
      if (index > 0 && (own.user !== first.user || own.password !== first.password || own.tls !== first.tls)) {
        context.addIssue({ code: 'custom', path: ['cluster', index], message: 'must carry the same user, password and scheme as cluster.0 (one connection setting for every node)' });
      }
    });
  });

export const RedisSentinelSetting = z.strictObject({
  /** Sentinels watching the primary: the client asks them where it is, and again after a failover. */
  sentinels: z.array(sentinelAddress).min(1, 'must name at least one Sentinel'),
  /** The primary's name in the Sentinels' config (`sentinel monitor NAME ...`). */
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be the monitored primary\'s name (letters, digits, . _ -)'),
  /** The ACL user and password on the primary and its replicas. */
  user: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** The Sentinels' own user and password, when they ask for one. */
  sentinelUser: z.string().min(1).optional(),
  sentinelPassword: z.string().min(1).optional(),
  tls: z.boolean().default(false),
});

/** A bare URL string stays accepted: every config written before Cluster and Sentinel. */
export const RedisSetting = z.union([redisUrl, RedisUrlSetting, RedisClusterSetting, RedisSentinelSetting], {
  error: 'must be a redis:// URL, { url }, { cluster: [url, ...] } or { sentinels: [host:port, ...], name }',
});
/** As written in a config (a Sentinel setting may leave out `tls`), which every parsed one also is. */
export type RedisSetting = z.input<typeof RedisSetting>;

/** The three shapes a setting comes down to. */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; urls: string[] }
  | { kind: 'sentinel'; setting: z.infer<typeof RedisSentinelSetting> };

export function redisTarget(setting: RedisSetting): RedisTarget {
  if (typeof setting === 'string') return { kind: 'single', url: setting };
  if ('url' in setting) return { kind: 'single', url: setting.url };
  if ('cluster' in setting) return { kind: 'cluster', urls: setting.cluster };
  return { kind: 'sentinel', setting: RedisSentinelSetting.parse(setting) };
}

/** What a log line or an error may say about a setting: addresses, never a password. */
export function describeRedisSetting(setting: RedisSetting): string {
  const target = redisTarget(setting);
  if (target.kind === 'single') return redactedRedisUrl(target.url);
  if (target.kind === 'cluster') return `the Redis Cluster seeded by ${target.urls.map(redactedRedisUrl).join(', ')}`;
  return `the primary "${target.setting.name}" of the Sentinels ${target.setting.sentinels.join(', ')}`;
}

/** The URL with its password replaced, the only form of a Redis URL that may reach a log or an error. */
export function redactedRedisUrl(url: string): string {
  const parsed = parsedUrl(url);
  if (parsed === undefined) return '(a Redis URL that does not parse)';
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

export function credentialsOf(url: string): { user?: string; password?: string; tls: boolean } {
  const parsed = parsedUrl(url);
  return {
    user: parsed?.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed?.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed?.protocol === 'rediss:',
  };
}

function parsedUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}
