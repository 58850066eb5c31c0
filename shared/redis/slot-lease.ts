// A held slot lease: short (seconds), renewed every third of its TTL while the host deploys
// and confirmed before each step that takes the host out of service or changes what it
// runs; released (waking the next waiter) when it is done; an AbortSignal fires the moment
// it is lost.

import type { Logger } from '../contract/logger.js';
import { TIMED_OUT, pause, within } from '../contract/waiting.js';
import { LockLostError, errorMessage } from '../contract/errors.js';
import type { LeaseWatch, ReleaseOptions, SlotLease } from '../ports/slot-locks.js';
import type { DeployGroup } from '../ports/fleet-state.js';
import type { RedisScripts } from './scripts.js';
import { CLEANUP_TIMEOUT_MS, type WaitQueue } from './wait-queue.js';
import type { ZoneRule } from '../contract/zone-rule.js';

export interface LeaseContext {
  scripts: RedisScripts;
  queue: WaitQueue;
  slot: number;
  /** The grant's number among the group's grants. */
  epoch: number;
  slotKey: string;
  token: string;
  /** The holder's host name: it leaves the out-of-service set with a release that says it serves again. */
  holder: string;
  ttlMs: number;
  /** When the acquiring call was sent: the lock is surely valid until this plus the TTL. */
  validFrom: number;
  logger: Logger;
  /** The group the slot is of, for the watch. */
  group: DeployGroup;
  /** Told of renewals that failed and of the lease's loss; none unless given. */
  watch?: LeaseWatch;
  /** The deploy's zone rule: the release wakes a waiter whose zone it lets go. */
  zoneRule?: ZoneRule;
}

/**
 * A held slot. Renews every third of its TTL, so two renewals can fail before it lapses;
 * a renewal that finds another token (or none) aborts `signal` with a LockLostError at
 * once; one that fails is retried until the lease may have lapsed, then aborts the same way.
 */
export class RedisSlotLease implements SlotLease, AsyncDisposable {
  readonly slot: number;
  readonly epoch: number;
  readonly signal: AbortSignal;
  /** The value the slot key holds while this lease owns it. */
  readonly token: string;
  private readonly context: LeaseContext;
  private readonly lost = new AbortController();
  private validUntil: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private releasing: Promise<boolean> | undefined;

  constructor(context: LeaseContext) {
    this.context = context;
    this.slot = context.slot;
    this.epoch = context.epoch;
    this.token = context.token;
    this.signal = this.lost.signal;
    this.validUntil = context.validFrom + context.ttlMs;
    this.schedule(this.renewEveryMs);
  }

  async confirm(): Promise<void> {
    for (;;) {
      this.signal.throwIfAborted();
      const outcome = await this.renewOnce();
      if (outcome === 'renewed') return;
      // renewOnce lost the lease when it was not held or no answer could come in time.
      this.signal.throwIfAborted();
      await pause(this.retryMs);
    }
  }

  /** Compare-and-delete, then one waiter is woken. Never rejects: a failure is logged and the lease lapses by itself. */
  release(options: ReleaseOptions = {}): Promise<boolean> {
    this.releasing ??= this.runRelease(options.outOfService === true);
    return this.releasing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release().then(() => undefined);
  }

  private get renewEveryMs(): number {
    return Math.floor(this.context.ttlMs / 3);
  }

  private get retryMs(): number {
    return Math.min(Math.max(Math.floor(this.context.ttlMs / 10), 50), 2_000);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.renewInBackground(), delayMs);
    this.timer.unref();
  }

  private stopRenewal(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async renewInBackground(): Promise<void> {
    this.timer = undefined;
    const outcome = await this.renewOnce();
    if (this.stopped) return;
    this.schedule(outcome === 'renewed' ? this.renewEveryMs : this.retryMs);
  }

  /**
   * One renewal. 'renewed' moves the lease's end; 'failed' means Redis did not answer but
   * the lease may still be ours; when it is surely not (another token, or no answer before
   * it could have lapsed) the lease is lost and 'lost' returned.
   */
  private async renewOnce(): Promise<'renewed' | 'failed' | 'lost'> {
    if (this.stopped) return 'lost';
    const { scripts, slotKey, token, ttlMs, queue, slot } = this.context;
    const sentAt = Date.now();
    let outcome: 'renewed' | 'not-held' | typeof TIMED_OUT;
    try {
      outcome = await within(scripts.run('renewSlot', [slotKey, queue.leasesKey], [token, ttlMs, slot]), Math.max(1, this.validUntil - sentAt));
    } catch (error) {
      if (this.stopped) return 'lost';
      this.tell('renewalFailed');
      const message = `renewing slot ${this.slot} failed: ${errorMessage(error)}`;
      if (Date.now() + this.retryMs >= this.validUntil) {
        this.lose(`${message}; the lease may have lapsed`);
        return 'lost';
      }
      this.context.logger.debug({ retryMs: this.retryMs }, message);
      return 'failed';
    }
    if (this.stopped) return 'lost';
    if (outcome === 'renewed') {
      this.validUntil = Math.max(this.validUntil, sentAt + ttlMs);
      return 'renewed';
    }
    this.tell('renewalFailed');
    if (outcome === TIMED_OUT) this.lose(`Redis did not answer the renewal of slot ${this.slot} before its lease could lapse`);
    else this.lose(`slot ${this.slot} (epoch ${this.epoch}) is no longer held by this host: its lease lapsed or another host took it`);
    return 'lost';
  }

  private lose(message: string): void {
    if (this.stopped) return;
    this.stopRenewal();
    this.context.logger.warn(message);
    this.tell('lost');
    this.lost.abort(new LockLostError(message));
  }

  /** Tells the watch; whatever it does, the lease goes on as if it had not been told. */
  private tell(what: keyof LeaseWatch): void {
    const { watch, group, logger } = this.context;
    if (!watch) return;
    try {
      watch[what](group);
    } catch (error) {
      logger.debug({ err: errorMessage(error) }, 'the lease watch failed');
    }
  }

  private async runRelease(outOfService: boolean): Promise<boolean> {
    const wasLost = this.lost.signal.aborted;
    this.stopRenewal();
    const { queue, slotKey, slot, token, holder, logger, zoneRule } = this.context;
    try {
      const outcome = await within(queue.release(slotKey, slot, token, outOfService ? '' : holder, zoneRule), CLEANUP_TIMEOUT_MS);
      if (outcome === TIMED_OUT) {
        logger.warn('Redis did not answer the release; the slot frees when its lease lapses');
        return false;
      }
      if (!outcome.released) {
        if (wasLost) logger.debug('slot was already lost at release; nothing to release');
        else logger.warn('slot was not held at release: it expired or another host took it');
      } else if (outcome.wake === 'head-changed') {
        logger.debug('slot released; the waiters kept moving, so the next one finds it on its poll');
      } else {
        logger.debug({ woke: outcome.wake === 'woke', outOfService }, 'slot released');
      }
      return true;
    } catch (error) {
      logger.warn({ err: error }, 'releasing the slot failed; it frees when its lease lapses');
      return false;
    }
  }
}
