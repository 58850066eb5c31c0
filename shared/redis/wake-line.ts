// Waiting hosts' wake-ups over the connection the host already has: no second Redis
// connection per waiting host. One BLPOP at a time per connection and group names the
// wake list of every acquire waiting on it, in slices: any other command on the
// connection (a lease renewal, a report of state) waits at most one slice behind it. A
// slice is as long as its waiters allow (each caps it below what a lease renewal can
// wait, slot-locks.ts), and short while waits of several groups take turns on one
// connection. Each BLPOP is a command a waiting host costs Redis, so the slices are
// cut to end with the waits' own deadlines rather than spilling a short one past them.

import { Command } from 'ioredis';
import type { RedisClient as Redis } from './connection.js';
import type { Logger } from '../contract/logger.js';
import { pause } from '../contract/waiting.js';

/** The slice while waits of several groups share the connection: each group's line blocks it in turn. */
export const SHARED_SLICE_MS = 2_000;
const MIN_SLICE_MS = 10;
/**
 * A BLPOP's own client-side bound, over its slice: the connection's command timeout (3 s)
 * would cut a longer slice, and a dead connection must still fail the read.
 */
const BLPOP_GRACE_MS = 2_000;
/** As long as a wake list lives when its waker made it (wait-queue.ts). */
const PUT_BACK_TTL_MS = 30_000;

interface Waiting {
  resolve(value: string | undefined): void;
  sliceMs: number;
  /** When the wait gives up by itself (its poll): no slice runs past the earliest of these. */
  until: number;
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
      const entry: Waiting = { resolve: done, sliceMs: Math.max(MIN_SLICE_MS, sliceMs), until: Date.now() + timeoutMs };
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
        // A wait within a hair of its own deadline ends now rather than costing one more BLPOP.
        for (const waiter of [...this.waiting.values()]) if (waiter.until - Date.now() < MIN_SLICE_MS / 2) waiter.resolve(undefined);
        if (this.waiting.size === 0) break;
        const keys = [...this.waiting.keys()];
        const sliceMs = this.nextSliceMs();
        let reply: [string, string] | null;
        try {
          reply = await this.blpop(keys, sliceMs);
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

  /**
   * The shortest slice any waiter allows, short while another group's line waits on the same
   * connection, and never past the earliest waiter's own deadline (a wait ended by its poll
   * would otherwise keep the connection blocked, and the poll's script queued behind it).
   */
  private nextSliceMs(): number {
    const waiters = [...this.waiting.values()];
    let sliceMs = Math.min(...waiters.map((w) => w.sliceMs));
    const others = [...(lines.get(this.redis)?.values() ?? [])].some((line) => line !== this && line.waiting.size > 0);
    if (others) sliceMs = Math.min(sliceMs, SHARED_SLICE_MS);
    const left = Math.min(...waiters.map((w) => w.until)) - Date.now();
    return Math.max(MIN_SLICE_MS, Math.min(sliceMs, left));
  }

  /** BLPOP with a client-side bound of its own: the connection's command timeout is shorter than a long slice. */
  private blpop(keys: string[], sliceMs: number): Promise<[string, string] | null> {
    const command = new Command('blpop', [...keys, (sliceMs / 1000).toFixed(3)], { replyEncoding: 'utf8' });
    // Set first, so the connection's own (shorter) command timeout is not applied on top.
    command.setTimeout(sliceMs + BLPOP_GRACE_MS);
    void this.redis.sendCommand(command);
    return command.promise as Promise<[string, string] | null>;
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
