// The benchmark's own connection to the cluster's Redis. It counts every command it
// sends, so that a commandstats delta can be cleaned of the benchmark's own traffic.
import { Redis } from 'ioredis';
import { parseCommandStats, type CommandCounts } from './measure.js';

export class RedisProbe implements AsyncDisposable {
  private readonly redis: Redis;
  private readonly sent: CommandCounts = new Map();

  constructor(url: string) {
    // No ready check and no client info: nothing is sent but what this class counts.
    this.redis = new Redis(url, {
      enableReadyCheck: false,
      disableClientInfo: true,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      commandTimeout: 5_000,
      connectTimeout: 5_000,
    });
    this.redis.on('error', () => {});
  }

  async connect(): Promise<void> {
    await this.redis.connect();
  }

  /** A copy of the per-command counts sent so far; take one with each snapshot. */
  sentSoFar(): CommandCounts {
    return new Map(this.sent);
  }

  /**
   * Calls per command. An INFO appears in exactly one of two snapshots around it (it counts
   * either itself or, in the next one, not), so each snapshot adds one `info` to what was sent.
   */
  async commandStats(): Promise<CommandCounts> {
    return parseCommandStats(await this.call('info', () => this.redis.info('commandstats')));
  }

  async zscore(key: string, member: string): Promise<string | null> {
    return this.call('zscore', () => this.redis.zscore(key, member));
  }

  async zcard(key: string): Promise<number> {
    return this.call('zcard', () => this.redis.zcard(key));
  }

  /** SET NX PX: true when the key was free and is now held with `value`. */
  async setNx(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.call('set', () => this.redis.set(key, value, 'PX', ttlMs, 'NX'))) === 'OK';
  }

  /** Deletes `key` only while it still holds `value` (it may have expired and been taken). */
  async deleteIfHeld(key: string, value: string): Promise<void> {
    await this.call('eval', () =>
      this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, key, value),
    );
  }

  private async call<T>(name: string, send: () => Promise<T>): Promise<T> {
    this.sent.set(name, (this.sent.get(name) ?? 0) + 1);
    return send();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.redis.disconnect();
  }
}

/** What the benchmark sent between two snapshots, INFO calls included as commandStats explains. */
export function sentBetween(before: CommandCounts, after: CommandCounts): CommandCounts {
  const own: CommandCounts = new Map();
  for (const [name, calls] of after) {
    const value = calls - (before.get(name) ?? 0);
    if (value > 0) own.set(name, value);
  }
  return own;
}
