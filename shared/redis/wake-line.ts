// Waiting hosts' wake-ups over the connection the host already has: no second Redis
// connection per waiting host. One BLPOP at a time per connection and group names the
// wake list of every acquire waiting on it, in short slices, so any other command on the
// connection (a lease renewal of another role, a report of state) waits at most one slice.

import type { RedisClient as Redis } from './connection.js';
import type { Logger } from '../contract/logger.js';
import { pause } from '../contract/waiting.js';

/** The longest one BLPOP blocks the shared connection: under its 3 s command timeout, and short next to a lease. */
export const MAX_SLICE_MS = 2_000;
const MIN_SLICE_MS = 10;
/** As long as a wake list lives when its waker made it (wait-queue.ts). */
const PUT_BACK_TTL_MS = 30_000;

interface Waiting {
  resolve(value: string | undefined): void;
  sliceMs: number;
}

/** Every group's line on a connection: the keys of one BLPOP must share a hash tag (Redis Cluster). */
const lines = new WeakMap<Redis, Map<string, WakeLine>>();

export class WakeLine {
  private readonly waiting = new Map<string, Waiting>();
  private running = false;

  private constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {}

  /** The line of `redis` for the group whose keys carry `tag`. */
  static for(redis: Redis, tag: string, logger: Logger): WakeLine {
    let byTag = lines.get(redis);
    if (!byTag) {
      byTag = new Map();
      lines.set(redis, byTag);
    }
    let line = byTag.get(tag);
    if (!line) {
      line = new WakeLine(redis, logger);
      byTag.set(tag, line);
    }
    return line;
  }

  /**
   * Resolves with the value pushed to `key` (a wake-up), or undefined once `timeoutMs`
   * passed or `signal` aborted. One wait per key at a time.
   */
  wait(key: string, timeoutMs: number, sliceMs: number, signal: AbortSignal): Promise<string | undefined> {
    return new Promise((resolve) => {
      const done = (value: string | undefined) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.waiting.get(key) === entry) this.waiting.delete(key);
        resolve(value);
      };
      const entry: Waiting = { resolve: done, sliceMs: Math.max(MIN_SLICE_MS, Math.min(sliceMs, MAX_SLICE_MS)) };
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      if (signal.aborted) return done(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.get(key)?.resolve(undefined);
      this.waiting.set(key, entry);
      if (!this.running) void this.run();
    });
  }

  /** One BLPOP per slice over every waiting key, while any key waits. */
  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.size > 0) {
        const keys = [...this.waiting.keys()];
        const sliceMs = Math.min(...[...this.waiting.values()].map((w) => w.sliceMs));
        let reply: [string, string] | null;
        try {
          reply = await this.redis.blpop(...keys, (sliceMs / 1000).toFixed(3));
        } catch (error) {
          // The acquire's own poll deadline still ends each wait; the line only pauses, never spins.
          this.logger.debug({ err: error }, 'wake-up read failed; trying again after a slice');
          await pause(sliceMs);
          continue;
        }
        if (!reply) continue;
        const [key, value] = reply;
        const waiter = this.waiting.get(key);
        if (waiter) {
          waiter.resolve(value);
        } else {
          // Its waiter stopped waiting while the pop was under way: put the wake-up back for its next wait.
          await this.putBack(key, value);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async putBack(key: string, value: string): Promise<void> {
    try {
      await this.redis.lpush(key, value);
      await this.redis.pexpire(key, PUT_BACK_TTL_MS);
    } catch (error) {
      this.logger.debug({ err: error }, 'could not put back a late wake-up; its waiter finds the slot on its next poll');
    }
  }
}
