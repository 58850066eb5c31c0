// The FIFO of hosts waiting for a slot of one group, and the wake-ups that move it. The
// caller reads the head of the waiters set and names that waiter's wake list in the
// script's KEYS; the script wakes it only if it is still the head, so every key a
// script touches is declared. A head that changed in between costs one more look.

import type { RedisClient as Redis } from './connection.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { DeployGroup } from '../ports/fleet-state.js';
import { RedisScripts, callRedis, type WakeOutcome } from './scripts.js';

/** A wake list outlives the gap between a waiter's queueing and its BLPOP, and no more. */
const WAKE_TTL_MS = 30_000;
/**
 * Looks at the head before a wake-up is left to the waiters' fallback poll. A head only
 * changes under a race (a waiter leaving or taking a free slot), so a second look nearly
 * always settles it.
 */
const WAKE_TRIES = 3;
/** Waiters (and as many held hosts) one herd wake-up names; past that (a fleet of thousands) the next look wakes the rest. */
const MAX_WAKE_PER_CALL = 1_000;
/** Clean-up after a wait (leaving the queue, a release) never holds the caller longer than this. */
export const CLEANUP_TIMEOUT_MS = 5_000;

export class WaitQueue {
  /** Sorted set of waiting hosts' tokens, oldest first. */
  readonly waitersKey: string;
  /** Sorted set of the tokens of hosts a freeze or a gate holds aside, oldest first. */
  readonly heldKey: string;
  /** Set of the group's hosts out of service for a deploy (holders, and dead holders until they serve again). */
  readonly outKey: string;
  private readonly scripts: RedisScripts;

  constructor(
    private readonly redis: Redis,
    private readonly group: DeployGroup,
  ) {
    this.waitersKey = redisKeys.waiters(group.role, group.env);
    this.heldKey = redisKeys.held(group.role, group.env);
    this.outKey = redisKeys.outOfService(group.role, group.env);
    this.scripts = RedisScripts.for(redis);
  }

  /** The list the waiter with `token` blocks on; '' names no waiter, and no script touches it. */
  wakeKey(token: string): string {
    return redisKeys.wake(this.group.role, this.group.env, token);
  }

  /**
   * Compare-and-delete a slot lock held by `token`, then wake the oldest waiter (one, not
   * the herd). Two round trips: the head is read first so the script can name its wake list.
   * `leavingOut` names the holder to take out of the out-of-service set with it ('' keeps it in).
   */
  async release(slotKey: string, token: string, leavingOut: string): Promise<{ released: boolean; wake?: WakeOutcome }> {
    const head = await this.headOtherThan(token);
    const outcome = await this.scripts.run('releaseSlot', [slotKey, this.waitersKey, this.wakeKey(head), this.outKey], [token, head, WAKE_TTL_MS, leavingOut]);
    if (!outcome.released) return { released: false };
    return { released: true, wake: outcome.wake === 'head-changed' ? await this.wakeHead(WAKE_TRIES - 1) : outcome.wake };
  }

  /**
   * Takes `token` out of the waiters set; a wake-up meant for it that it will not use (it
   * stands down, or was popped and then lost the slot race) goes to the next waiter.
   * Returns whether one was passed on.
   */
  async leave(token: string): Promise<boolean> {
    const next = await this.headOtherThan(token);
    const outcome = await this.scripts.run('leaveQueue', [this.waitersKey, this.wakeKey(token), this.wakeKey(next), this.heldKey], [token, next, WAKE_TTL_MS]);
    if (!outcome.owed) return false;
    const wake = outcome.wake === 'head-changed' ? await this.wakeHead(WAKE_TRIES - 1) : outcome.wake;
    return wake === 'woke';
  }

  /** `host` serves again: it leaves the out-of-service set, and the slot it counted against wakes a waiter. Whether it was in the set. */
  async backInService(host: string): Promise<boolean> {
    const head = await this.headOtherThan();
    const outcome = await this.scripts.run('backInService', [this.outKey, this.waitersKey, this.wakeKey(head)], [host, head, WAKE_TTL_MS]);
    if (outcome.left && outcome.wake === 'head-changed') await this.wakeHead(WAKE_TRIES - 1);
    return outcome.left;
  }

  /** Clears the wake list of a host that took a slot: the wake-up it may still hold is spent. */
  async forget(token: string): Promise<void> {
    await callRedis('clearing a used wake list', () => this.redis.del(this.wakeKey(token)));
  }

  /** Wakes whoever is at the head now, looking again (at most `tries` times) while the head moves under it. */
  async wakeHead(tries = WAKE_TRIES): Promise<WakeOutcome> {
    let outcome: WakeOutcome = 'head-changed';
    // Bounded looks with no pause between: each settles unless another host moved the head meanwhile.
    for (let look = 0; look < tries && outcome === 'head-changed'; look++) {
      const head = await this.headOtherThan();
      if (head === '') return 'nobody';
      outcome = await this.scripts.run('wakeHead', [this.waitersKey, this.wakeKey(head)], [head, WAKE_TTL_MS]);
    }
    return outcome;
  }

  /**
   * Sets a mark every acquire reads (a release's broken mark, a deploy's stop mark; the
   * first one stays) and wakes every waiting and held host so each stands down. Returns
   * how many were woken and how many joined too late to be named (each finds the mark on
   * its next poll).
   */
  async standDownAll(markKey: string, mark: string): Promise<{ woken: number; unread: number }> {
    const { woken, unread } = await this.wakeAll((tokens, wakeKeys) =>
      this.scripts.run('markBroken', [markKey, this.waitersKey, this.heldKey, ...wakeKeys], [mark, WAKE_TTL_MS, ...tokens]),
    );
    return { woken, unread };
  }

  /**
   * Deletes what holds hosts aside (the group's freeze mark, or a deploy's gate) and wakes
   * every waiting and held host: each takes a free slot or queues again in its arrival
   * place. `getValue` hands back the hold's value as it was (a freeze mark's JSON).
   */
  async liftHold(holdKey: string, getValue: boolean): Promise<{ woken: number; unread: number; value: string | null }> {
    let value: string | null = null;
    let first = true;
    const counts = await this.wakeAll(async (tokens, wakeKeys) => {
      // Only the first look deletes the hold: a later one only wakes hosts that joined meanwhile,
      // and must not delete a hold set again in between.
      const mode = !first ? '' : getValue ? 'get' : 'del';
      const outcome = await this.scripts.run('liftHold', [holdKey, this.waitersKey, this.heldKey, ...wakeKeys], [WAKE_TTL_MS, mode, ...tokens]);
      if (first) value = outcome.value;
      first = false;
      return outcome;
    });
    return { ...counts, value };
  }

  /** Reads both sets and runs `wake` on what it read, looking again (bounded) while hosts joined too late to be named. */
  private async wakeAll(
    wake: (tokens: string[], wakeKeys: string[]) => Promise<{ woken: number; unread: number }>,
  ): Promise<{ woken: number; unread: number }> {
    let woken = 0;
    let unread = 0;
    for (let look = 0; look < WAKE_TRIES; look++) {
      const [waiting, held] = await Promise.all([
        callRedis('reading the waiters', () => this.redis.zrange(this.waitersKey, '0', String(MAX_WAKE_PER_CALL - 1))),
        callRedis('reading the held hosts', () => this.redis.zrange(this.heldKey, '0', String(MAX_WAKE_PER_CALL - 1))),
      ]);
      const tokens = [...waiting, ...held];
      const outcome = await wake(tokens, tokens.map((token) => this.wakeKey(token)));
      woken += outcome.woken;
      unread = outcome.unread;
      if (unread === 0) break;
    }
    return { woken, unread };
  }

  /** The oldest waiter that is not `self`, or '' when there is none. */
  private async headOtherThan(self?: string): Promise<string> {
    const first = await callRedis('reading the head of the waiters', () => this.redis.zrange(this.waitersKey, '0', '1'));
    return first.find((token) => token !== self) ?? '';
  }
}
