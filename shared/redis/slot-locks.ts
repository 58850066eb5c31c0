// At most k hosts of a group deploy at once (and at most what the deploy's zone rule lets
// each zone lose): k slot locks in Redis taken in one call whatever k, a FIFO of waiting
// hosts per zone, and a wake-up pushed to exactly one waiter per release, read over the
// host's one connection.

import { randomUUID } from 'node:crypto';
import type { RedisClient as Redis } from './connection.js';
import type { Logger } from '../contract/logger.js';
import { TIMED_OUT, untilAborted, within } from '../contract/waiting.js';
import { redisKeys } from '../contract/redis-keys.js';
import { ValidationError } from '../contract/errors.js';
import type { AcquireOptions, LeaseWatch, SlotLocks } from '../ports/slot-locks.js';
import { RedisScripts, callRedis } from './scripts.js';
import { describeBrokenMark, readBrokenMark } from './broken-mark.js';
import { RedisSlotLease } from './slot-lease.js';
import { CLEANUP_TIMEOUT_MS, WaitQueue } from './wait-queue.js';
import { confirmOnReplica } from './replica-ack.js';
import { WakeLine } from './wake-line.js';
import { RedisOutage } from './redis-outage.js';
import { zoneRuleArgs, type ZoneRule } from '../contract/zone-rule.js';

export { RedisSlotLease } from './slot-lease.js';

/**
 * Only a fallback: releases, hosts back in service, broken marks, stopped deploys, an
 * unfreeze and an opened gate wake waiters at once; a poll finds what no wake-up announces
 * (a waiter killed while it held a wake-up, a lease that lapsed, a freeze whose `until`
 * passed: its key lapses by itself and the held hosts see it within one poll). A poll that
 * finds every place taken costs Redis four commands, whatever the slot count: the acquire
 * script, and EXISTS (the four marks: broken, stopped, freeze, gate), SCARD and ZSCORE
 * inside it; the wake-up BLPOP runs in slices (waitSliceMs) on the host's one connection
 * (one BLPOP per slice for every acquire waiting on that connection): three a poll at the
 * default lease, so a waiting host costs Redis about 0.7 commands a second. A held host
 * pays the script and EXISTS twice more plus ZSCORE (five; six with a SISMEMBER when a
 * gate holds it).
 */
export const DEFAULT_POLL_MS = 10_000;
/** Renewed on every arrival; clears the set of a quiet group. A waiter that finds the set gone joins again on its next poll. */
const WAITERS_TTL_MS = 60 * 60 * 1000;
/** Calls naming another free number in a row before the host waits a poll instead (each settles unless another host took the number meanwhile). */
const NUMBER_TRIES = 8;

export interface RedisSlotLocksOptions {
  redis: Redis;
  /** Lease TTL; the lease renews every third of it. */
  ttlMs: number;
  logger: Logger;
  /**
   * Longest a waiting host blocks before it looks again by itself: the fallback for a
   * lost wake-up, an expired lock or a dead waiter. A poll costs Redis five commands.
   */
  pollMs?: number;
  /** Told of failed renewals and lost leases (the agent's metrics); none unless given. */
  leaseWatch?: LeaseWatch;
}

/** AcquireResult, with the lease's concrete type (its token is visible to tests and logs). */
export type RedisAcquireResult = { kind: 'acquired'; lease: RedisSlotLease } | { kind: 'broken'; reason: string } | { kind: 'stopped' };


/**
 * The longest one wake-up BLPOP holds the host's connection: a quarter of the lease, so a
 * renewal (due every third of it, retried until it lapses) queued behind a slice still has
 * more than half the lease to land; never past a poll. 3.75 s at the default 15 s lease.
 */
export function waitSliceMs(pollMs: number, ttlMs: number): number {
  return Math.min(pollMs, Math.floor(ttlMs / 4));
}

export class RedisSlotLocks implements SlotLocks {
  private readonly redis: Redis;
  private readonly ttlMs: number;
  private readonly pollMs: number;
  private readonly logger: Logger;
  private readonly scripts: RedisScripts;
  private readonly leaseWatch: LeaseWatch | undefined;

  constructor(options: RedisSlotLocksOptions) {
    const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 100) {
      throw new ValidationError(`lock TTL must be a whole number of milliseconds >= 100, got ${options.ttlMs}`);
    }
    if (!Number.isInteger(pollMs) || pollMs < 10) {
      throw new ValidationError(`poll interval must be a whole number of milliseconds >= 10, got ${pollMs}`);
    }
    this.redis = options.redis;
    this.ttlMs = options.ttlMs;
    this.pollMs = pollMs;
    this.logger = options.logger.child({ component: 'slot-locks' });
    this.scripts = RedisScripts.for(options.redis);
    this.leaseWatch = options.leaseWatch;
  }

  async acquire(options: AcquireOptions): Promise<RedisAcquireResult> {
    const { group, slots, tag, signal, deployId } = options;
    if (!Number.isSafeInteger(slots) || slots < 1) {
      throw new ValidationError(`slot count must be a whole number of at least 1, got ${slots}`);
    }
    signal.throwIfAborted();

    // The holder's name leads the token, so whoever reads a slot key sees which host holds it.
    const token = `${options.holder}/${randomUUID()}`;
    const zone = options.zone ?? '';
    const rule = options.zoneRule;
    const [ruleMode, ruleMax] = zoneRuleArgs(rule);
    const queue = new WaitQueue(this.redis, group, zone);
    const { role, env } = group;
    const slotKey = (n: number) => redisKeys.slot(role, env, n);
    const acquireKeys = [
      redisKeys.broken(role, env, tag), redisKeys.deployStopped(role, env, deployId), queue.waitersKey, queue.outKey, redisKeys.epoch(role, env),
      redisKeys.freeze(role, env), redisKeys.gate(role, env, deployId), queue.heldKey, queue.ownQueueKey, queue.leasesKey, queue.freeSlotsKey,
      queue.slotTopKey, queue.outZonesKey, queue.zoneOutKey, queue.waitingZonesKey,
    ];
    const brokenKey = acquireKeys[0] as string;
    const holder = options.holder;
    // Every line of this acquire and its lease goes through the deploy's logger when given.
    const log = options.logger ? options.logger.child({ component: 'slot-locks', tag }) : this.logger.child({ role: group.role, env: group.env, tag });
    // Asked again through an outage, as the slot request is (redis-outage.ts).
    const outage = new RedisOutage();
    // Read once, not per poll: only this host adds itself, so a host already out of service
    // (back from a crash before it served again) counts once, not twice.
    let wasOut: boolean | undefined;
    while (wasOut === undefined) {
      wasOut = await callRedis('reading the out-of-service set', () => this.redis.sismember(queue.outKey, holder)).then(
        (member) => member === 1,
        (error: unknown) => outage.tolerate(error, signal, log),
      );
    }
    outage.over();
    // An acquire given up on must not leave a host that was serving counted out of service.
    const abandonedLeavesOut = wasOut ? '' : holder;
    const wakeKey = queue.wakeKey(token);

    const line = WakeLine.for(this.redis, `${role}:${env}`, this.logger);
    // The number the script last reserved for this host, or a release handed it (0: none), and how many times in a row the script reserved one.
    let candidate = 0;
    let renamed = 0;
    // Whether the token joined the waiters or the held set (either is left at the end).
    let queued = false;
    let acquired = false;
    // What holds this host aside now, so the log says it once per change.
    let heldBy: 'freeze' | 'gate' | undefined;
    // The arrival score a wake-up hands back, so a waiter that loses a race keeps its place.
    let score = '';
    const startedAt = Date.now();

    try {
      for (;;) {
        const sentAt = Date.now();
        const args = [token, this.ttlMs, score, WAITERS_TTL_MS, holder, wasOut ? '1' : '', slots, candidate === 0 ? '' : candidate, zone, ruleMode, ruleMax];
        const attempt = this.scripts.run('acquireSlot', [...acquireKeys, slotKey(Math.max(candidate, 1))], args);
        const reply = await untilAborted(attempt, signal, (late) => {
          if (late.kind === 'acquired') this.releaseAbandoned(queue, late.slot, token, abandonedLeavesOut, rule, log);
          else if ((late.kind === 'queued' || late.kind === 'held') && !queued) void this.leaveQueue(queue, token, false, rule, log);
        }).catch((error: unknown) => outage.tolerate(error, signal, log));
        if (reply === undefined) continue;
        outage.over();

        if (reply.kind === 'retry' && renamed < NUMBER_TRIES) {
          // A free number was reserved for this host: call again at once, naming it.
          candidate = reply.slot;
          renamed++;
          continue;
        }
        // A number this call named and did not take went back: a place it kept from others may be free again.
        const gaveBack = candidate !== 0 && reply.kind !== 'acquired';
        candidate = 0;
        renamed = 0;

        if (reply.kind === 'acquired') {
          acquired = true;
          const lease = new RedisSlotLease({
            scripts: this.scripts,
            queue,
            slot: reply.slot,
            epoch: reply.epoch,
            slotKey: slotKey(reply.slot),
            ...(rule ? { zoneRule: rule } : {}),
            token,
            holder,
            ttlMs: this.ttlMs,
            validFrom: sentAt,
            logger: log.child({ slot: reply.slot }),
            group,
            ...(this.leaseWatch ? { watch: this.leaseWatch } : {}),
          });
          // (Redis part, replica-ack.ts) Through a Sentinel or cluster failover the grant and the
          // out-of-service mark must survive: a replica holds them before the host acts on them.
          await confirmOnReplica(this.redis, slotKey(reply.slot), log);
          if (signal.aborted) {
            await lease.release({ outOfService: wasOut });
            throw signal.reason;
          }
          log.info({ slot: reply.slot, epoch: reply.epoch, slots, zone, waitedMs: Date.now() - startedAt }, 'slot acquired');
          // A place is still free (a zone's turn began, an unfreeze): the next waiter that may go takes it.
          if (reply.roomLeft) void this.passWakeOn(queue, rule, log);
          return { kind: 'acquired', lease };
        }
        signal.throwIfAborted();

        if (reply.kind === 'stopped') {
          log.info('deploy stopped (past its deadline); standing down');
          return { kind: 'stopped' };
        }
        if (reply.kind === 'broken') {
          const mark = await readBrokenMark(this.redis, brokenKey);
          const reason = mark ? describeBrokenMark(mark) : 'release marked broken';
          log.info({ reason }, 'release marked broken; standing down');
          return { kind: 'broken', reason };
        }

        if (reply.kind === 'held') {
          if (heldBy !== reply.by) {
            heldBy = reply.by;
            log.info({ slots }, reply.by === 'freeze' ? 'group frozen; held until it is unfrozen' : "deploy's gate leaves this host out; held until it opens");
          }
          // Woken off the waiters set (a release meant for this host), it passes the wake-up
          // on: a held host must not swallow what the next waiter needs.
          if (score !== '') await this.passWakeOn(queue, rule, log);
        } else {
          heldBy = undefined;
          // Its zone is at its cap while the group has a place, and this host was woken for it or held a
          // number another host found taken: the place goes to a zone that may go.
          if (reply.kind === 'queued' && reply.by === 'zone' && (score !== '' || gaveBack)) await this.passWakeOn(queue, rule, log);
        }
        if (!queued) {
          queued = true;
          if (reply.kind === 'queued') log.debug({ slots, zone, by: reply.by }, reply.by === 'zone' ? "the zone rule keeps this host's zone out; waiting" : 'every slot taken; waiting for a release');
          try {
            options.onWait?.();
          } catch (error) {
            log.warn({ err: error }, 'onWait callback threw');
          }
        }
        const wake = handedOver(await line.wait(wakeKey, this.pollMs, this.sliceMs, signal), slots);
        score = wake.score;
        // A release handed over the number it freed: the next call names it and takes the slot in one.
        if (wake.slot !== undefined) candidate = wake.slot;
        signal.throwIfAborted();
      }
    } finally {
      if (queued) await this.leaveQueue(queue, token, acquired, rule, log);
    }
  }

  private get sliceMs(): number {
    return waitSliceMs(this.pollMs, this.ttlMs);
  }

  /** Leaves the waiters set; a wake-up this host received but will not use goes to the next waiter. */
  private async leaveQueue(queue: WaitQueue, token: string, acquired: boolean, rule: ZoneRule | undefined, log: Logger): Promise<void> {
    try {
      // Holding a slot now, this host used its wake-up (if any): only its wake list is left to clear.
      const pending = acquired ? queue.forget(token) : queue.leave(token, rule);
      const outcome = await within<unknown>(pending, CLEANUP_TIMEOUT_MS);
      if (outcome === TIMED_OUT) log.warn('Redis did not answer while leaving the waiters set');
      else if (outcome === true) log.debug('passed an unused wake-up on to the next waiter');
    } catch (error) {
      log.warn({ err: error }, 'could not leave the waiters set; the next waiter may wait one poll interval longer');
    }
  }

  /** A wake-up this host received but cannot use (held, or its zone at its cap), or a place left free, goes to the next waiter that may go. */
  private async passWakeOn(queue: WaitQueue, rule: ZoneRule | undefined, log: Logger): Promise<void> {
    try {
      const outcome = await within<unknown>(queue.wakeNext(rule), CLEANUP_TIMEOUT_MS);
      if (outcome === 'woke') log.debug('held: passed a wake-up on to the next waiter');
    } catch (error) {
      log.warn({ err: error }, 'could not pass a wake-up on; the next waiter may wait one poll interval longer');
    }
  }

  /** A slot taken by an acquire the caller had already abandoned goes straight back. */
  private releaseAbandoned(queue: WaitQueue, slot: number, token: string, leavingOut: string, rule: ZoneRule | undefined, log: Logger): void {
    const { role, env } = queue.group;
    queue.release(redisKeys.slot(role, env, slot), slot, token, leavingOut, rule).then(
      () => log.debug('released a slot taken after the caller gave up'),
      (error: unknown) => log.warn({ err: error }, 'could not release a slot taken after the caller gave up; it frees when its TTL ends'),
    );
  }
}

/**
 * What a wake-up hands the woken host: its arrival score (to keep its place if it must queue
 * again), and from a release the slot number it freed (wake-next.lua: `SCORE` or
 * `SCORE:NUMBER`). Anything else (none, an unfreeze's wake-up with no number, a number past
 * the slot count) hands over less, never more.
 */
export function handedOver(wake: string | undefined, slots: number): { score: string; slot?: number } {
  const [score = '', number] = (wake ?? '').trim().split(':');
  const kept = score !== '' && Number.isFinite(Number(score)) ? score : '';
  const slot = Number(number);
  return Number.isSafeInteger(slot) && slot >= 1 && slot <= slots ? { score: kept, slot } : { score: kept };
}
