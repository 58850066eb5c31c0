// One lock per deploy group, so that a check and the write it allows (no route points at the
// cluster, then retire it; no rollout in progress, then create a catch-up; the canary still
// paused, then promote it) never interleave with another change of the group, whether it comes
// to this coordinator or to the other one. Within a process the callers queue (no Redis polling
// between them); between coordinators they meet at one Redis key (SET NX PX with a token,
// renewed every third of its TTL, freed by compare-and-delete). A caller waits a bounded time
// and then gets a 503 group_busy naming the group and who holds it: worth another try.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GrapevineError, LockLostError, TimeoutError, errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import { TIMED_OUT, pollUntil, within } from '../../shared/contract/waiting.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import type { GroupLockStore } from '../../shared/ports/group-lock.js';

/** Longer than any locked section takes (a relay call is bounded at 5 s); renewed anyway. */
export const DEFAULT_GROUP_LOCK_TTL_MS = 10_000;
/** Under a client's 10 s timeout, so a busy group answers 503 rather than a cut connection. */
export const DEFAULT_GROUP_LOCK_WAIT_MS = 5_000;
const DEFAULT_POLL_MS = 25;
/** The release is a courtesy: past this the lock lapses by itself. */
const RELEASE_MS = 2_000;

/** What a locked section does: a short word (kebab-case) the busy answer and the lock's token show. */
export type LockPurpose = 'route-change' | 'cluster-retire' | 'rollout' | 'catch-up' | 'canary-promote' | 'canary-abort' | 'switch-back' | 'strategy-step';

export class GroupBusyError extends GrapevineError {
  constructor(message: string) {
    super('group_busy', message);
    this.name = 'GroupBusyError';
  }
}

export interface GroupLocks {
  /**
   * Runs `work` while holding the group's lock. `signal` fires when the lock was lost (its
   * renewal failed past its TTL): work checks it before each write. GroupBusyError when the
   * lock cannot be had within the wait bound; nothing of `work` ran then.
   */
  hold<T>(group: DeployGroup, purpose: LockPurpose, work: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

export interface CoordinatorGroupLocksOptions {
  /** Where the lock is shared with the other coordinators; without it only this process's changes queue (one coordinator). */
  store?: GroupLockStore;
  /** This coordinator's name: its tokens start with it, so a busy answer says who holds the group. */
  name: string;
  logger: Logger;
  ttlMs?: number;
  waitMs?: number;
  pollMs?: number;
}

export class CoordinatorGroupLocks implements GroupLocks {
  readonly #options: CoordinatorGroupLocksOptions;
  readonly #logger: Logger;
  readonly #ttlMs: number;
  readonly #waitMs: number;
  /** Per group, the end of the last queued section: the next one starts after it. */
  readonly #lanes = new Map<string, Promise<void>>();
  /** Per group, what this process holds it for, for the busy answer. */
  readonly #holding = new Map<string, LockPurpose>();

  constructor(options: CoordinatorGroupLocksOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'group-lock' });
    this.#ttlMs = options.ttlMs ?? DEFAULT_GROUP_LOCK_TTL_MS;
    this.#waitMs = options.waitMs ?? DEFAULT_GROUP_LOCK_WAIT_MS;
  }

  hold<T>(group: DeployGroup, purpose: LockPurpose, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const key = `${group.role}/${group.env}`;
    const deadline = performance.now() + this.#waitMs;
    const before = this.#lanes.get(key) ?? Promise.resolve();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.#lanes.set(key, done);
    void done.then(() => {
      if (this.#lanes.get(key) === done) this.#lanes.delete(key);
    });
    return new Promise<T>((resolve, reject) => {
      let gaveUp = false;
      const timer = setTimeout(() => {
        gaveUp = true;
        reject(new GroupBusyError(`${key} is busy: this coordinator (${this.#options.name}) holds it for a ${this.#holding.get(key) ?? 'change'}, and ${this.#waitMs} ms passed; try again`));
      }, this.#waitMs);
      void before.then(async () => {
        clearTimeout(timer);
        if (gaveUp) return finish();
        this.#holding.set(key, purpose);
        try {
          resolve(await this.#holdShared(group, key, purpose, deadline, work));
        } catch (error) {
          reject(error);
        } finally {
          this.#holding.delete(key);
          finish();
        }
      });
    });
  }

  async #holdShared<T>(group: DeployGroup, key: string, purpose: LockPurpose, deadline: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { store } = this.#options;
    if (!store) return work(new AbortController().signal);
    const token = `${this.#options.name}/${purpose}/${randomUUID()}`;
    let holder = '';
    let sentAt = 0;
    try {
      await pollUntil(
        `the lock of ${key}`,
        async () => {
          sentAt = performance.now();
          const attempt = await store.take(group, token, this.#ttlMs);
          if (attempt.kind === 'taken') return true;
          holder = attempt.holder;
          return undefined;
        },
        { timeoutMs: Math.max(1, deadline - performance.now()), intervalMs: this.#options.pollMs ?? DEFAULT_POLL_MS, tolerate: () => false },
      );
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      const [name, what] = holder.split('/');
      const by = holder === '' ? 'another change' : `coordinator ${name ?? holder} for a ${what ?? 'change'}`;
      throw new GroupBusyError(`${key} is busy: ${by} holds its lock, and ${this.#waitMs} ms passed; try again`);
    }
    const held = new HeldLock(store, group, token, this.#ttlMs, sentAt, this.#logger.child({ group: key, purpose }));
    try {
      return await work(held.signal);
    } finally {
      await held.release();
    }
  }
}

/** The lock while held: renewed every third of its TTL; `signal` fires once it may have lapsed. */
class HeldLock {
  readonly #lost = new AbortController();
  readonly signal = this.#lost.signal;
  #validUntil: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly store: GroupLockStore,
    private readonly group: DeployGroup,
    private readonly token: string,
    private readonly ttlMs: number,
    takenAt: number,
    private readonly logger: Logger,
  ) {
    this.#validUntil = takenAt + ttlMs;
    this.#schedule();
  }

  async release(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.signal.aborted) return;
    try {
      if ((await within(this.store.release(this.group, this.token), RELEASE_MS)) === TIMED_OUT) this.logger.warn('Redis did not answer the group lock release; it lapses by itself');
    } catch (error) {
      this.logger.warn({ err: errorMessage(error) }, 'could not release the group lock; it lapses by itself');
    }
  }

  #schedule(delayMs = Math.max(50, Math.floor(this.ttlMs / 3))): void {
    this.#timer = setTimeout(() => void this.#renew(), delayMs);
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    const sentAt = performance.now();
    let renewed: boolean | typeof TIMED_OUT;
    try {
      renewed = await within(this.store.renew(this.group, this.token, this.ttlMs), Math.max(1, this.#validUntil - sentAt));
    } catch (error) {
      if (this.#stopped) return;
      const retryMs = Math.max(20, Math.floor(this.ttlMs / 10));
      if (performance.now() + retryMs < this.#validUntil) return this.#schedule(retryMs);
      return this.#lose(`renewing the group lock failed: ${errorMessage(error)}; it may have lapsed`);
    }
    if (this.#stopped) return;
    if (renewed === true) {
      this.#validUntil = sentAt + this.ttlMs;
      return this.#schedule();
    }
    this.#lose(renewed === TIMED_OUT ? 'Redis did not answer the group lock renewal before it could lapse' : 'the group lock lapsed or another coordinator took it');
  }

  #lose(message: string): void {
    this.#stopped = true;
    this.logger.warn(message);
    this.#lost.abort(new LockLostError(message));
  }
}
