// At most k hosts of a group deploy at once: k slot locks in Redis, a FIFO of waiting
// hosts, and a wake-up pushed to exactly one waiter per release.

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../contract/logger.js';
import { TIMED_OUT, pause, untilAborted, within } from '../contract/waiting.js';
import { redisKeys } from '../contract/redis-keys.js';
import { LockLostError, ValidationError, errorMessage } from '../contract/errors.js';
import { LockScripts } from './scripts.js';
import { readBrokenReason } from './fleet-state.js';
import type { AcquireOptions, SlotLease, SlotLocks } from '../ports/slot-locks.js';

/**
 * Only a fallback: releases, freed slots of lost hosts and broken marks wake waiters at
 * once; a poll finds what no wake-up announces (a waiter killed while it held a wake-up,
 * a lock that ran out its TTL). Each poll costs Redis five commands, whatever the slot
 * count: BLPOP, the acquire script, and EXISTS, EXISTS and ZSCORE inside it, so a
 * waiting host costs half a command per second.
 */
export const DEFAULT_POLL_MS = 10_000;
/** 3 000 hosts at a third each is 1 000 keys in one call (and one EXISTS); past that is a bad slot count. */
const MAX_SLOTS = 1_000;
/** Clean-up after a wait (leaving the queue, a release) never holds the caller longer than this. */
const CLEANUP_TIMEOUT_MS = 5_000;

export interface RedisSlotLocksOptions {
  redis: Redis;
  /** Lock TTL; the lease renews at half of it. */
  ttlMs: number;
  logger: Logger;
  /**
   * Longest a waiting host blocks before it looks again by itself: the fallback for a
   * lost wake-up, an expired lock or a dead waiter. A poll costs Redis five commands.
   */
  pollMs?: number;
}

/** AcquireResult, with the lease's concrete type (its token is visible to tests and logs). */
export type RedisAcquireResult = { kind: 'acquired'; lease: RedisSlotLease } | { kind: 'broken'; reason: string };

interface GroupKeys {
  broken: string;
  waiters: string;
  slots: string[];
  /** Wake list names with the token left off, as the scripts build them. */
  wakePrefix: string;
}

export class RedisSlotLocks implements SlotLocks {
  private readonly redis: Redis;
  private readonly ttlMs: number;
  private readonly pollMs: number;
  private readonly logger: Logger;
  private readonly scripts: LockScripts;

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
    this.scripts = LockScripts.for(options.redis);
  }

  async acquire(options: AcquireOptions): Promise<RedisAcquireResult> {
    const { group, slots, tag, signal } = options;
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SLOTS) {
      throw new ValidationError(`slot count must be a whole number from 1 to ${MAX_SLOTS}, got ${slots}`);
    }
    signal.throwIfAborted();

    // The holder's name leads the token, so a host lost mid-deploy can have its slot freed by name.
    const token = `${options.holder}/${randomUUID()}`;
    const keys: GroupKeys = {
      broken: redisKeys.broken(group.role, group.env, tag),
      waiters: redisKeys.waiters(group.role, group.env),
      slots: Array.from({ length: slots }, (_, i) => redisKeys.slot(group.role, group.env, i + 1)),
      wakePrefix: this.scripts.argKey(redisKeys.wake(group.role, group.env, '')),
    };
    const wakeKey = redisKeys.wake(group.role, group.env, token);
    const log = options.logger ? options.logger.child({ component: 'slot-locks', tag }) : this.logger.child({ role: group.role, env: group.env, tag });

    let waiter: Redis | undefined;
    let queued = false;
    let acquired = false;
    // The arrival score a wake-up hands back, so a waiter that loses a race keeps its place.
    let score = '';
    const startedAt = Date.now();
    const onAbort = () => waiter?.disconnect();
    signal.addEventListener('abort', onAbort, { once: true });

    try {
      for (;;) {
        const sentAt = Date.now();
        const reply = await untilAborted(this.scripts.acquireSlot(keys, token, this.ttlMs, score), signal, (late) => {
          if (late.kind === 'acquired') this.releaseAbandoned(keys, late.slot, token, log);
          else if (late.kind === 'queued' && !queued) void this.leaveQueue(keys, token, wakeKey, false, log);
        });

        if (reply.kind === 'acquired') {
          acquired = true;
          const lease = new RedisSlotLease({
            scripts: this.scripts,
            slot: reply.slot,
            slotKey: keys.slots[reply.slot - 1] ?? '',
            waitersKey: keys.waiters,
            wakePrefix: keys.wakePrefix,
            token,
            ttlMs: this.ttlMs,
            validFrom: sentAt,
            logger: log.child({ slot: reply.slot }),
          });
          if (signal.aborted) {
            await lease.release();
            throw signal.reason;
          }
          log.info({ slot: reply.slot, slots, waitedMs: Date.now() - startedAt }, 'slot acquired');
          return { kind: 'acquired', lease };
        }
        signal.throwIfAborted();

        if (reply.kind === 'broken') {
          const reason = (await readBrokenReason(this.redis, keys.broken)) ?? 'release marked broken';
          log.info({ reason }, 'release marked broken; standing down');
          return { kind: 'broken', reason };
        }

        if (!queued) {
          queued = true;
          log.debug({ slots }, 'every slot taken; waiting for a release');
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
      if (queued) await this.leaveQueue(keys, token, wakeKey, acquired, log);
    }
  }

  /** A dedicated connection: BLPOP would stall every other command on the shared one. */
  private openWaiter(log: Logger): Redis {
    const waiter = this.redis.duplicate({
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
  private async leaveQueue(keys: GroupKeys, token: string, wakeKey: string, acquired: boolean, log: Logger): Promise<void> {
    try {
      // Holding a slot now, this host used its wake-up (if any): only its wake list is left to clear.
      const pending = acquired
        ? this.redis.del(wakeKey)
        : this.scripts.wakeNext({ waiters: keys.waiters, ownWake: wakeKey }, token, keys.wakePrefix);
      const outcome = await within<unknown>(pending, CLEANUP_TIMEOUT_MS);
      if (outcome === TIMED_OUT) log.warn('Redis did not answer while leaving the waiters set');
      else if (outcome === 'woke') log.debug('passed an unused wake-up on to the next waiter');
    } catch (error) {
      log.warn({ err: error }, 'could not leave the waiters set; the next waiter may wait one poll interval longer');
    }
  }

  /** A slot taken by an acquire the caller had already abandoned goes straight back. */
  private releaseAbandoned(keys: GroupKeys, slot: number, token: string, log: Logger): void {
    const slotKey = keys.slots[slot - 1] ?? '';
    this.scripts.releaseSlot({ slot: slotKey, waiters: keys.waiters }, token, keys.wakePrefix).then(
      () => log.debug({ slot }, 'released a slot taken after the caller gave up'),
      (error: unknown) => log.warn({ err: error, slot }, 'could not release a slot taken after the caller gave up; it frees when its TTL ends'),
    );
  }
}

interface LeaseContext {
  scripts: LockScripts;
  slot: number;
  slotKey: string;
  waitersKey: string;
  wakePrefix: string;
  token: string;
  ttlMs: number;
  /** When the acquiring call was sent: the lock is surely valid until this plus the TTL. */
  validFrom: number;
  logger: Logger;
}

/**
 * A held slot. Renews at TTL/2; a renewal that finds another token (or none) aborts
 * `signal` with a LockLostError at once; a renewal that fails is retried until the
 * lock may have expired, then aborts the same way.
 */
export class RedisSlotLease implements SlotLease, AsyncDisposable {
  readonly slot: number;
  readonly signal: AbortSignal;
  /** The value the slot key holds while this lease owns it. */
  readonly token: string;
  private readonly context: LeaseContext;
  private readonly lost = new AbortController();
  private validUntil: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private releasing: Promise<void> | undefined;

  constructor(context: LeaseContext) {
    this.context = context;
    this.slot = context.slot;
    this.token = context.token;
    this.signal = this.lost.signal;
    this.validUntil = context.validFrom + context.ttlMs;
    this.schedule(Math.floor(context.ttlMs / 2));
  }

  /** Compare-and-delete, then one waiter is woken. Never rejects: a failure is logged and the TTL frees the slot. */
  release(): Promise<void> {
    this.releasing ??= this.runRelease();
    return this.releasing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.renew(), delayMs);
    this.timer.unref();
  }

  private stopRenewal(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async renew(): Promise<void> {
    this.timer = undefined;
    const { scripts, slotKey, token, ttlMs } = this.context;
    const sentAt = Date.now();
    let outcome: 'renewed' | 'not-held' | typeof TIMED_OUT;
    try {
      outcome = await within(scripts.renewSlot(slotKey, token, ttlMs), Math.max(1, this.validUntil - sentAt));
    } catch (error) {
      if (this.stopped) return;
      this.retryOrLose(`renewing slot ${this.slot} failed: ${errorMessage(error)}`);
      return;
    }
    if (this.stopped) return;
    if (outcome === 'renewed') {
      this.validUntil = sentAt + ttlMs;
      this.schedule(Math.floor(ttlMs / 2));
    } else if (outcome === TIMED_OUT) {
      this.lose(`Redis did not answer the renewal of slot ${this.slot} before its TTL ran out`);
    } else {
      this.lose(`slot ${this.slot} is no longer held by this host: it expired or another host took it`);
    }
  }

  /** A failed renewal is retried while the lock is surely still ours; a Redis blip must not abort a deploy. */
  private retryOrLose(message: string): void {
    const retryMs = Math.min(Math.max(Math.floor(this.context.ttlMs / 10), 50), 5_000);
    if (Date.now() + retryMs >= this.validUntil) {
      this.lose(`${message}; the lock may have expired`);
      return;
    }
    this.context.logger.debug({ retryMs }, message);
    this.schedule(retryMs);
  }

  private lose(message: string): void {
    if (this.stopped) return;
    this.stopRenewal();
    this.context.logger.warn(message);
    this.lost.abort(new LockLostError(message));
  }

  private async runRelease(): Promise<void> {
    const wasLost = this.lost.signal.aborted;
    this.stopRenewal();
    const { scripts, slotKey, waitersKey, wakePrefix, token, logger } = this.context;
    try {
      const outcome = await within(scripts.releaseSlot({ slot: slotKey, waiters: waitersKey }, token, wakePrefix), CLEANUP_TIMEOUT_MS);
      if (outcome === TIMED_OUT) {
        logger.warn('Redis did not answer the release; the slot frees when its TTL ends');
      } else if (outcome === 'not-held') {
        if (wasLost) logger.debug('slot was already lost at release; nothing to release');
        else logger.warn('slot was not held at release: it expired or another host took it');
      } else {
        logger.debug('slot released');
      }
    } catch (error) {
      logger.warn({ err: error }, 'releasing the slot failed; it frees when its TTL ends');
    }
  }
}
