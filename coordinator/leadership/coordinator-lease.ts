// Which of the coordinators serving one fleet leads: the one holding a Redis lease (SET NX PX,
// renewed every third of its TTL, dropped on a clean stop). The leader alone runs the work
// that must run once (the watchdog, the strategy runner); both serve every HTTP request.
// Fencing: a holder leads only until the lease it last renewed could have lapsed in Redis,
// measured on its own monotonic clock from before it sent the renewal. A holder that paused
// (GC, SIGSTOP, a slow disk) past that point does not act when it wakes: it leads again only
// after a new take, in a new epoch. confirm() also reads the lease back, for the start of a pass.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { LeaseStore } from '../../shared/ports/coordinator-lease.js';

export const DEFAULT_LEASE_TTL_MS = 6_000;
/** Room for Redis's clock and this process's to run at slightly different rates over one TTL. */
const DRIFT_MARGIN = 0.05;

export interface LeadershipStatus {
  /** This coordinator's name (its Serf node name). */
  name: string;
  leader: boolean;
  /** The epoch of this coordinator's term while it leads. */
  epoch?: number;
  /** The name of the coordinator that held the lease at the last attempt; undefined when nobody did. */
  leaderName?: string;
}

/** What the leader-only work asks before each action. */
export interface Leadership {
  /** True while this coordinator holds the lease with time left: no Redis call. */
  readonly leading: boolean;
  /** leading, and the lease in Redis still holds this coordinator's token. */
  confirm(): Promise<boolean>;
}

export interface CoordinatorLeaseOptions {
  store: LeaseStore;
  /** This coordinator's name: the token starts with it, so whoever reads the lease sees who leads. */
  name: string;
  ttlMs?: number;
  logger: Logger;
  /** Told when this coordinator starts or stops leading. */
  onChange?: (status: LeadershipStatus) => void;
  /** Monotonic milliseconds; performance.now unless given. */
  clock?: () => number;
}

export class CoordinatorLease implements Leadership {
  readonly #options: CoordinatorLeaseOptions;
  readonly #logger: Logger;
  readonly #ttlMs: number;
  readonly #clock: () => number;
  /** One token per process: a restarted coordinator is a new holder. */
  readonly #token: string;
  /** Until when (monotonic ms) this coordinator may act as leader; 0 when it does not hold the lease. */
  #validUntil = 0;
  #epoch: number | undefined;
  #leaderName: string | undefined;
  #wasLeading = false;
  #timer: NodeJS.Timeout | undefined;
  #attempt: Promise<void> | undefined;
  #stopped = false;

  constructor(options: CoordinatorLeaseOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'leadership' });
    this.#ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.#clock = options.clock ?? (() => performance.now());
    this.#token = `${options.name}/${randomUUID()}`;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Every third of the TTL: a leader renews twice before its lease could lapse, a follower takes a lapsed one within this. */
  get renewEveryMs(): number {
    return Math.max(50, Math.floor(this.#ttlMs / 3));
  }

  get leading(): boolean {
    return this.#validUntil > this.#clock();
  }

  async confirm(): Promise<boolean> {
    if (!this.leading) return false;
    let holder: string | undefined;
    try {
      holder = await this.#options.store.holder();
    } catch {
      // Redis away: the local deadline alone says, as it would for any action under way.
      return this.leading;
    }
    return holder === this.#token && this.leading;
  }

  status(): LeadershipStatus {
    const leader = this.leading;
    return {
      name: this.#options.name,
      leader,
      ...(leader && this.#epoch !== undefined ? { epoch: this.#epoch } : {}),
      ...(this.#leaderName !== undefined ? { leaderName: leader ? this.#options.name : this.#leaderName } : {}),
    };
  }

  /** Tries at once, then every renewEveryMs until stop(). */
  start(): Promise<void> {
    this.#stopped = false;
    const first = this.attempt();
    const next = () => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => void this.attempt().finally(next), this.renewEveryMs);
      this.#timer.unref();
    };
    void first.finally(next);
    return first;
  }

  /** One take or renewal; never rejects (a failure leaves the local deadline to run out). */
  attempt(): Promise<void> {
    this.#attempt ??= this.#hold().finally(() => {
      this.#attempt = undefined;
    });
    return this.#attempt;
  }

  /** Stops renewing and gives the lease up when held, so the other coordinator takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#attempt;
    const held = this.leading;
    this.#validUntil = 0;
    this.#changed();
    if (!held) return;
    try {
      await this.#options.store.drop(this.#token);
    } catch (error) {
      this.#logger.warn({ err: errorMessage(error) }, 'could not give the lease up; the other coordinator takes it when it lapses');
    }
  }

  async #hold(): Promise<void> {
    const sentAt = this.#clock();
    try {
      const answer = await this.#options.store.hold(this.#token, this.#ttlMs);
      if (this.#stopped) return;
      if (answer.kind === 'other') {
        this.#validUntil = 0;
        this.#leaderName = answer.holder.split('/', 1)[0];
      } else {
        // From before the call: the lease in Redis lapses no sooner than TTL after it was sent.
        this.#validUntil = sentAt + this.#ttlMs * (1 - DRIFT_MARGIN);
        this.#epoch = answer.epoch;
        this.#leaderName = this.#options.name;
        if (answer.kind === 'taken') this.#logger.warn({ epoch: answer.epoch, ttlMs: this.#ttlMs }, 'took the coordinators\' lease: this coordinator leads (watchdog, strategy runner)');
      }
    } catch (error) {
      if (this.leading) this.#logger.warn({ err: errorMessage(error) }, 'could not renew the lease; leading until it could lapse, then following');
    }
    this.#changed();
  }

  #changed(): void {
    const leading = this.leading;
    if (leading === this.#wasLeading) return;
    this.#wasLeading = leading;
    if (!leading) this.#logger.warn({ leaderName: this.#leaderName }, 'not leading: the watchdog and the strategy runner pause here');
    this.#options.onChange?.(this.status());
  }
}
