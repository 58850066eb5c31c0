// At most k hosts of a group deploy at once: k slot locks in Redis, a FIFO of waiting
// hosts, and a wake-up pushed to exactly one waiter per release.

import { randomUUID } from 'node:crypto';
import { duplicateRedis, type RedisClient as Redis } from './connection.js';
import type { Logger } from '../contract/logger.js';
import { TIMED_OUT, pause, untilAborted, within } from '../contract/waiting.js';
import { redisKeys } from '../contract/redis-keys.js';
import { ValidationError } from '../contract/errors.js';
import type { AcquireOptions, LeaseWatch, SlotLocks } from '../ports/slot-locks.js';
import { RedisScripts, callRedis } from './scripts.js';
import { describeBrokenMark, readBrokenMark } from './broken-mark.js';
import { RedisSlotLease } from './slot-lease.js';
import { CLEANUP_TIMEOUT_MS, WaitQueue } from './wait-queue.js';
import { confirmOnReplica } from './replica-ack.js';

export { RedisSlotLease } from './slot-lease.js';

/**
 * Only a fallback: releases, hosts back in service, broken marks, stopped deploys, an
 * unfreeze and an opened gate wake waiters at once; a poll finds what no wake-up announces
 * (a waiter killed while it held a wake-up, a lease that lapsed, a freeze whose `until`
 * passed: its key lapses by itself and the held hosts see it within one poll). A poll that
 * finds every place taken costs Redis five commands, whatever the slot count: BLPOP, the
 * acquire script, and EXISTS (the four marks: broken, stopped, freeze, gate), SCARD and
 * ZSCORE inside it, the same five as before freezes and gates existed, so a waiting host
 * costs half a command per second. A held host pays BLPOP, the script and EXISTS twice
 * more plus ZSCORE (six; seven with a SISMEMBER when a gate holds it).
 */
export const DEFAULT_POLL_MS = 10_000;
/** Renewed on every arrival; clears the set of a quiet group. A waiter that finds the set gone joins again on its next poll. */
const WAITERS_TTL_MS = 60 * 60 * 1000;
/** 3 000 hosts at a third each is 1 000 keys in one call (and one EXISTS); past that is a bad slot count. */
const MAX_SLOTS = 1_000;

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

interface GroupKeys {
  broken: string;
  stopped: string;
  epoch: string;
  freeze: string;
  gate: string;
  slots: string[];
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
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SLOTS) {
      throw new ValidationError(`slot count must be a whole number from 1 to ${MAX_SLOTS}, got ${slots}`);
    }
    signal.throwIfAborted();

    // The holder's name leads the token, so whoever reads a slot key sees which host holds it.
    const token = `${options.holder}/${randomUUID()}`;
    const queue = new WaitQueue(this.redis, group);
    const keys: GroupKeys = {
      broken: redisKeys.broken(group.role, group.env, tag),
      stopped: redisKeys.deployStopped(group.role, group.env, deployId),
      epoch: redisKeys.epoch(group.role, group.env),
      freeze: redisKeys.freeze(group.role, group.env),
      gate: redisKeys.gate(group.role, group.env, deployId),
      slots: Array.from({ length: slots }, (_, i) => redisKeys.slot(group.role, group.env, i + 1)),
    };
    const acquireKeys = [keys.broken, keys.stopped, queue.waitersKey, queue.outKey, keys.epoch, keys.freeze, keys.gate, queue.heldKey, ...keys.slots];
    const holder = options.holder;
    // Read once, not per poll: only this host adds itself, so a host already out of service
    // (back from a crash before it served again) counts once, not twice.
    const wasOut = (await callRedis('reading the out-of-service set', () => this.redis.sismember(queue.outKey, holder))) === 1;
    // An acquire given up on must not leave a host that was serving counted out of service.
    const abandonedLeavesOut = wasOut ? '' : holder;
    const wakeKey = queue.wakeKey(token);
    // Every line of this acquire and its lease goes through the deploy's logger when given.
    const log = options.logger ? options.logger.child({ component: 'slot-locks', tag }) : this.logger.child({ role: group.role, env: group.env, tag });

    let waiter: Redis | undefined;
    // Whether the token joined the waiters or the held set (either is left at the end).
    let queued = false;
    let acquired = false;
    // What holds this host aside now, so the log says it once per change.
    let heldBy: 'freeze' | 'gate' | undefined;
    // The arrival score a wake-up hands back, so a waiter that loses a race keeps its place.
    let score = '';
    const startedAt = Date.now();
    const onAbort = () => waiter?.disconnect();
    signal.addEventListener('abort', onAbort, { once: true });

    try {
      for (;;) {
        const sentAt = Date.now();
        const attempt = this.scripts.run('acquireSlot', acquireKeys, [token, this.ttlMs, score, WAITERS_TTL_MS, holder, wasOut ? '1' : '']);
        const reply = await untilAborted(attempt, signal, (late) => {
          if (late.kind === 'acquired') this.releaseAbandoned(queue, keys.slots[late.slot - 1] ?? '', token, abandonedLeavesOut, log);
          else if ((late.kind === 'queued' || late.kind === 'held') && !queued) void this.leaveQueue(queue, token, false, log);
        });

        if (reply.kind === 'acquired') {
          acquired = true;
          const lease = new RedisSlotLease({
            scripts: this.scripts,
            queue,
            slot: reply.slot,
            epoch: reply.epoch,
            slotKey: keys.slots[reply.slot - 1] ?? '',
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
          await confirmOnReplica(this.redis, keys.slots[reply.slot - 1] ?? '', log);
          if (signal.aborted) {
            await lease.release({ outOfService: wasOut });
            throw signal.reason;
          }
          log.info({ slot: reply.slot, epoch: reply.epoch, slots, waitedMs: Date.now() - startedAt }, 'slot acquired');
          return { kind: 'acquired', lease };
        }
        signal.throwIfAborted();

        if (reply.kind === 'stopped') {
          log.info('deploy stopped (past its deadline); standing down');
          return { kind: 'stopped' };
        }
        if (reply.kind === 'broken') {
          const mark = await readBrokenMark(this.redis, keys.broken);
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
          if (score !== '') await this.passWakeOn(queue, log);
        } else {
          heldBy = undefined;
        }
        if (!queued) {
          queued = true;
          if (reply.kind === 'queued') log.debug({ slots }, 'every slot taken; waiting for a release');
          try {
            options.onWait?.();
          } catch (error) {
            log.warn({ err: error }, 'onWait callback threw');
          }
        }
        waiter ??= this.openWaiter(log);
        const wake = await this.waitForWake(waiter, wakeKey, signal, log);
        if (wake === 'connection-failed') {
          waiter.disconnect();
          waiter = undefined;
        } else {
          score = wake;
        }
        signal.throwIfAborted();
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      waiter?.disconnect();
      if (queued) await this.leaveQueue(queue, token, acquired, log);
    }
  }

  /** A dedicated connection: BLPOP would stall every other command on the shared one. */
  private openWaiter(log: Logger): Redis {
    const waiter = duplicateRedis(this.redis, {
      commandTimeout: undefined,
      // The BLPOP is sent before the new connection is ready; it must queue, not fail.
      enableOfflineQueue: true,
      // Resolves a BLPOP stuck on a dead socket just after its own timeout.
      blockingTimeout: this.pollMs + 1_000,
      disableClientInfo: true,
    });
    waiter.on('error', (error: unknown) => log.debug({ err: error }, 'wake-up connection error'));
    return waiter;
  }

  /** Blocks until this host's wake-up arrives or pollMs passes; returns the handed-back score ('' for none). */
  private async waitForWake(
    waiter: Redis,
    wakeKey: string,
    signal: AbortSignal,
    log: Logger,
  ): Promise<string | 'connection-failed'> {
    try {
      const reply = await waiter.blpop(wakeKey, this.pollMs / 1000);
      const value = reply?.[1];
      return value !== undefined && Number.isFinite(Number(value)) && value.trim() !== '' ? value : '';
    } catch (error) {
      if (signal.aborted) return '';
      log.warn({ err: error }, 'wake-up connection failed; retrying after one poll interval');
      // Without this pause a connection that fails at once would turn the loop into a spin.
      await pause(this.pollMs, signal);
      return 'connection-failed';
    }
  }

  /** Leaves the waiters set; a wake-up this host received but will not use goes to the next waiter. */
  private async leaveQueue(queue: WaitQueue, token: string, acquired: boolean, log: Logger): Promise<void> {
    try {
      // Holding a slot now, this host used its wake-up (if any): only its wake list is left to clear.
      const pending = acquired ? queue.forget(token) : queue.leave(token);
      const outcome = await within<unknown>(pending, CLEANUP_TIMEOUT_MS);
      if (outcome === TIMED_OUT) log.warn('Redis did not answer while leaving the waiters set');
      else if (outcome === true) log.debug('passed an unused wake-up on to the next waiter');
    } catch (error) {
      log.warn({ err: error }, 'could not leave the waiters set; the next waiter may wait one poll interval longer');
    }
  }

  /** A wake-up this held host received from a release goes to the head of the waiters instead. */
  private async passWakeOn(queue: WaitQueue, log: Logger): Promise<void> {
    try {
      const outcome = await within<unknown>(queue.wakeHead(), CLEANUP_TIMEOUT_MS);
      if (outcome === 'woke') log.debug('held: passed a wake-up on to the next waiter');
    } catch (error) {
      log.warn({ err: error }, 'could not pass a wake-up on; the next waiter may wait one poll interval longer');
    }
  }

  /** A slot taken by an acquire the caller had already abandoned goes straight back. */
  private releaseAbandoned(queue: WaitQueue, slotKey: string, token: string, leavingOut: string, log: Logger): void {
    queue.release(slotKey, token, leavingOut).then(
      () => log.debug('released a slot taken after the caller gave up'),
      (error: unknown) => log.warn({ err: error }, 'could not release a slot taken after the caller gave up; it frees when its TTL ends'),
    );
  }
}
