// The FIFO of hosts waiting for a slot of one group, one queue per zone, and the wake-ups
// that move it. The caller reads the head of each zone queue and names those waiters'
// wake lists in the script's KEYS; the script wakes the oldest head whose zone may go
// only if it is still the head, so every key a script touches is declared. A head that
// changed in between costs one more look.

import type { RedisClient as Redis } from './connection.js';
import { redisKeys } from '../contract/redis-keys.js';
import { zoneRuleArgs, type ZoneRule } from '../contract/zone-rule.js';
import type { DeployGroup } from '../ports/fleet-state.js';
import { RedisScripts, callRedis, redisFailure, type WakeOutcome } from './scripts.js';

/** A wake list outlives the gap between a waiter's queueing and its BLPOP, and no more. */
const WAKE_TTL_MS = 30_000;
/**
 * Looks at the heads before a wake-up is left to the waiters' fallback poll. A head only
 * changes under a race (a waiter leaving or taking a free slot), so a second look nearly
 * always settles it.
 */
const WAKE_TRIES = 3;
/** Waiters (and as many held hosts) one herd wake-up names; past that (a fleet of thousands) the next look wakes the rest. */
const MAX_WAKE_PER_CALL = 1_000;
/** Clean-up after a wait (leaving the queue, a release) never holds the caller longer than this. */
export const CLEANUP_TIMEOUT_MS = 5_000;

export class WaitQueue {
  /** Sorted set of waiting hosts' tokens of zone "" (a fleet without zones), oldest first. */
  readonly waitersKey: string;
  /** The queue of this host's zone (`waitersKey` itself for zone ""). */
  readonly ownQueueKey: string;
  /** Sorted set of the tokens of hosts a freeze or a gate holds aside, oldest first. */
  readonly heldKey: string;
  /** Set of the group's hosts out of service for a deploy (holders, and dead holders until they serve again). */
  readonly outKey: string;
  readonly outZonesKey: string;
  readonly zoneOutKey: string;
  readonly waitingZonesKey: string;
  readonly leasesKey: string;
  readonly freeSlotsKey: string;
  readonly slotTopKey: string;
  private readonly scripts: RedisScripts;

  constructor(
    private readonly redis: Redis,
    readonly group: DeployGroup,
    readonly zone = '',
  ) {
    const { role, env } = group;
    this.waitersKey = redisKeys.waiters(role, env);
    this.ownQueueKey = redisKeys.zoneWaiters(role, env, zone);
    this.heldKey = redisKeys.held(role, env);
    this.outKey = redisKeys.outOfService(role, env);
    this.outZonesKey = redisKeys.outZones(role, env);
    this.zoneOutKey = redisKeys.zoneOut(role, env);
    this.waitingZonesKey = redisKeys.waitingZones(role, env);
    this.leasesKey = redisKeys.slotLeases(role, env);
    this.freeSlotsKey = redisKeys.freeSlots(role, env);
    this.slotTopKey = redisKeys.slotTop(role, env);
    this.scripts = RedisScripts.for(redis);
  }

  /** The list the waiter with `token` blocks on; '' names no waiter, and no script touches it. */
  wakeKey(token: string): string {
    return redisKeys.wake(this.group.role, this.group.env, token);
  }

  /**
   * Compare-and-delete a slot lock held by `token`, then wake the oldest waiter whose zone
   * may go (one, not the herd). `leavingOut` names the holder to take out of the
   * out-of-service set with it ('' keeps it in).
   */
  async release(slotKey: string, slot: number, token: string, leavingOut: string, rule?: ZoneRule): Promise<{ released: boolean; wake?: WakeOutcome }> {
    const keys = [slotKey, this.leasesKey, this.freeSlotsKey, this.outKey, this.outZonesKey, this.zoneOutKey];
    const released = await this.scripts.run('releaseSlot', keys, [token, slot, leavingOut]);
    if (!released) return { released: false };
    // The woken waiter is handed the number freed here, so its next call takes the slot outright.
    return { released: true, wake: await this.wakeNext(rule, slot) };
  }

  /**
   * Takes `token` out of its queue (or the held set); a wake-up meant for it that it will
   * not use (it stands down, or was popped and then lost the slot race) goes to the next
   * waiter. Returns whether one was passed on.
   */
  async leave(token: string, rule?: ZoneRule): Promise<boolean> {
    const owed = await this.scripts.run('leaveQueue', [this.ownQueueKey, this.waitersKey, this.heldKey, this.wakeKey(token)], [token]);
    return owed && (await this.wakeNext(rule)) === 'woke';
  }

  /** `host` serves again: it leaves the out-of-service set, and the place it counted against wakes a waiter. Whether it was in the set. */
  async backInService(host: string): Promise<boolean> {
    const left = await this.scripts.run('backInService', [this.outKey, this.outZonesKey, this.zoneOutKey], [host]);
    if (left) await this.wakeNext();
    return left;
  }

  /** Clears the wake list of a host that took a slot: the wake-up it may still hold is spent. */
  async forget(token: string): Promise<void> {
    await callRedis('clearing a used wake list', () => this.redis.del(this.wakeKey(token)));
  }

  /**
   * Wakes the oldest head of the zone queues whose zone `rule` lets go now, looking again
   * (at most WAKE_TRIES times) while a head moves under it. Without a rule, the oldest head.
   * `freed`, a slot number a release just freed, goes to the woken host with its wake-up.
   */
  async wakeNext(rule?: ZoneRule, freed?: number): Promise<WakeOutcome> {
    const [mode, max] = zoneRuleArgs(rule);
    let outcome: WakeOutcome = 'head-changed';
    // Bounded looks with no pause between: each settles unless another host moved a head meanwhile.
    for (let look = 0; look < WAKE_TRIES && outcome === 'head-changed'; look++) {
      const heads = await this.heads();
      if (heads.length === 1 && heads[0]?.head === '') return 'nobody';
      const keys = [this.zoneOutKey, this.waitingZonesKey];
      const args: Array<string | number> = [WAKE_TTL_MS, mode, max, freed ?? ''];
      for (const { key, zone, head } of heads) {
        keys.push(key, this.wakeKey(head));
        args.push(zone, head);
      }
      outcome = await this.scripts.run('wakeNext', keys, args);
    }
    return outcome;
  }

  /**
   * The head of each queue ('' when empty): the group's queue is read with the waiting zones
   * in one round trip (a wake-up follows every release, so this is most of a host's waking);
   * zone queues, only in a fleet with zones, after.
   */
  private async heads(): Promise<Array<{ key: string; zone: string; head: string }>> {
    const replies = await callRedis('reading the waiting zones and the head of the queue', () => this.redis.pipeline().smembers(this.waitingZonesKey).zrange(this.waitersKey, '0', '0').exec());
    const [zonesError, zones] = replies?.[0] ?? [new Error('no reply to SMEMBERS')];
    const [headError, groupHead] = replies?.[1] ?? [new Error('no reply to ZRANGE')];
    const failed = zonesError ?? headError;
    if (failed) throw redisFailure(failed, 'reading the waiting zones and the head of the queue');
    const zoneQueues = this.zoneQueues(zones as string[]);
    const zoneHeads = await Promise.all(zoneQueues.map(({ key }) => callRedis('reading the head of a queue', () => this.redis.zrange(key, '0', '0'))));
    return [
      { key: this.waitersKey, zone: '', head: (groupHead as string[])[0] ?? '' },
      ...zoneQueues.map((queue, i) => ({ ...queue, head: zoneHeads[i]?.[0] ?? '' })),
    ];
  }

  /**
   * Sets a mark every acquire reads (a release's broken mark, a deploy's stop mark; the
   * first one stays) and wakes every waiting and held host so each stands down. Returns
   * how many were woken and how many joined too late to be named (each finds the mark on
   * its next poll).
   */
  async standDownAll(markKey: string, mark: string): Promise<{ woken: number; unread: number }> {
    let woken = 0;
    let unread = 0;
    for (const { key } of await this.queues()) {
      const counts = await this.wakeAll(key, (tokens, wakeKeys) => this.scripts.run('markBroken', [markKey, key, this.heldKey, ...wakeKeys], [mark, WAKE_TTL_MS, ...tokens]));
      woken += counts.woken;
      unread += counts.unread;
    }
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
    let woken = 0;
    let unread = 0;
    // The group's queue first: held hosts move into it, and each finds its zone's queue on its next call.
    for (const { key } of await this.queues()) {
      const counts = await this.wakeAll(key, async (tokens, wakeKeys) => {
        // Only the first look deletes the hold: a later one only wakes hosts that joined meanwhile,
        // and must not delete a hold set again in between.
        const mode = !first ? '' : getValue ? 'get' : 'del';
        const outcome = await this.scripts.run('liftHold', [holdKey, key, this.heldKey, ...wakeKeys], [WAKE_TTL_MS, mode, ...tokens]);
        if (first) value = outcome.value;
        first = false;
        return outcome;
      });
      woken += counts.woken;
      unread += counts.unread;
    }
    return { woken, unread, value };
  }

  /** The group's queue and every zone queue that had waiters, each with its zone. */
  private async queues(): Promise<Array<{ key: string; zone: string }>> {
    const zones = await callRedis('reading the waiting zones', () => this.redis.smembers(this.waitingZonesKey));
    return [{ key: this.waitersKey, zone: '' }, ...this.zoneQueues(zones)];
  }

  /** The queue of each zone in `zones` (the waiting-zones set), in a fixed order. */
  private zoneQueues(zones: string[]): Array<{ key: string; zone: string }> {
    const { role, env } = this.group;
    return zones.filter((zone) => zone !== '').sort().map((zone) => ({ key: redisKeys.zoneWaiters(role, env, zone), zone }));
  }

  /** Reads one queue and the held set and runs `wake` on what it read, looking again (bounded) while hosts joined too late to be named. */
  private async wakeAll(
    queueKey: string,
    wake: (tokens: string[], wakeKeys: string[]) => Promise<{ woken: number; unread: number }>,
  ): Promise<{ woken: number; unread: number }> {
    let woken = 0;
    let unread = 0;
    for (let look = 0; look < WAKE_TRIES; look++) {
      const [waiting, held] = await Promise.all([
        callRedis('reading the waiters', () => this.redis.zrange(queueKey, '0', String(MAX_WAKE_PER_CALL - 1))),
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
}
