// A held slot lock: renewed at TTL/2 while the host deploys, released (waking the next
// waiter) when it is done, and an AbortSignal that fires the moment the lock is lost.

import type { Logger } from '../contract/logger.js';
import { TIMED_OUT, within } from '../contract/waiting.js';
import { LockLostError, errorMessage } from '../contract/errors.js';
import type { ReleaseOptions, SlotLease } from '../ports/slot-locks.js';
import type { RedisScripts } from './scripts.js';
import { CLEANUP_TIMEOUT_MS, type WaitQueue } from './wait-queue.js';

export interface LeaseContext {
  scripts: RedisScripts;
  queue: WaitQueue;
  slot: number;
  slotKey: string;
  token: string;
  /** The holder's host name: it leaves the out-of-service set with a release that says it serves again. */
  holder: string;
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
  release(options: ReleaseOptions = {}): Promise<void> {
    this.releasing ??= this.runRelease(options.outOfService === true);
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
      outcome = await within(scripts.run('renewSlot', [slotKey], [token, ttlMs]), Math.max(1, this.validUntil - sentAt));
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

  private async runRelease(outOfService: boolean): Promise<void> {
    const wasLost = this.lost.signal.aborted;
    this.stopRenewal();
    const { queue, slotKey, token, holder, logger } = this.context;
    try {
      const outcome = await within(queue.release(slotKey, token, outOfService ? '' : holder), CLEANUP_TIMEOUT_MS);
      if (outcome === TIMED_OUT) {
        logger.warn('Redis did not answer the release; the slot frees when its TTL ends');
      } else if (!outcome.released) {
        if (wasLost) logger.debug('slot was already lost at release; nothing to release');
        else logger.warn('slot was not held at release: it expired or another host took it');
      } else if (outcome.wake === 'head-changed') {
        logger.debug('slot released; the waiters kept moving, so the next one finds it on its poll');
      } else {
        logger.debug({ woke: outcome.wake === 'woke', outOfService }, 'slot released');
      }
    } catch (error) {
      logger.warn({ err: error }, 'releasing the slot failed; it frees when its TTL ends');
    }
  }
}
