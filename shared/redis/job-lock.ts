// The once-per-deploy job's fenced lease in Redis: one host of the group takes it (SET NX
// with a short TTL, renewed every third of it), records the job's outcome only while it
// still holds it, and a host whose lease lapsed (it died) leaves the job to the next taker.
import { randomUUID } from 'node:crypto';
import type { RedisClient } from './connection.js';
import type { Logger } from '../contract/logger.js';
import { TIMED_OUT, within } from '../contract/waiting.js';
import { redisKeys } from '../contract/redis-keys.js';
import { GrapevineError, LockLostError, ValidationError, errorMessage } from '../contract/errors.js';
import { JobRecord } from '../contract/schemas.js';
import type { JobClaim, JobClaimOptions, JobLease, JobLocks, JobOutcome } from '../ports/deploy-job.js';
import { RedisScripts } from './scripts.js';

/** As the deploy's counters: long enough for any deploy to end and be looked at. */
const OUTCOME_TTL_SECONDS = 7 * 24 * 60 * 60;
/** The bound on one recording or release call: past it the lease lapses by itself. */
const CALL_TIMEOUT_MS = 5_000;

export interface RedisJobLocksOptions {
  redis: RedisClient;
  /** Lease TTL; renewed every third of it. */
  ttlMs: number;
}

export class RedisJobLocks implements JobLocks {
  private readonly scripts: RedisScripts;
  private readonly ttlMs: number;

  constructor(options: RedisJobLocksOptions) {
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 100) {
      throw new ValidationError(`job lease TTL must be a whole number of milliseconds >= 100, got ${options.ttlMs}`);
    }
    this.scripts = RedisScripts.for(options.redis);
    this.ttlMs = options.ttlMs;
  }

  async claim({ group, deployId, tag, holder, logger }: JobClaimOptions): Promise<JobClaim> {
    const { role, env } = group;
    const lockKey = redisKeys.jobLock(role, env, deployId);
    const outcomeKey = redisKeys.job(role, env, deployId);
    // The holder's name leads the token, so whoever reads the lease sees which host runs the job.
    const token = `${holder}/${randomUUID()}`;
    const keys = [outcomeKey, lockKey, redisKeys.jobAttempts(role, env, deployId), redisKeys.broken(role, env, tag), redisKeys.deployStopped(role, env, deployId)];
    const sentAt = Date.now();
    const reply = await this.scripts.run('claimJob', keys, [token, this.ttlMs, OUTCOME_TTL_SECONDS], `the job of deploy ${deployId}`);
    switch (reply.kind) {
      case 'done':
        return { kind: 'done', outcome: parseOutcome(reply.outcome, deployId) };
      case 'running':
        return { kind: 'running', holder: reply.token.split('/', 1)[0] ?? reply.token };
      case 'claimed':
        return {
          kind: 'claimed',
          lease: new RedisJobLease({ scripts: this.scripts, lockKey, outcomeKey, token, ttlMs: this.ttlMs, validFrom: sentAt, attempt: reply.attempt, logger }),
        };
      default:
        return reply;
    }
  }
}

function parseOutcome(raw: string, deployId: string): JobOutcome {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new GrapevineError('store_corrupt', `the job outcome of deploy ${deployId} in Redis is not JSON`);
  }
  const parsed = JobRecord.safeParse(value);
  if (!parsed.success || parsed.data.state === 'running') {
    throw new GrapevineError('store_corrupt', `the job outcome of deploy ${deployId} in Redis is not an outcome`);
  }
  return parsed.data as JobOutcome;
}

interface LeaseContext {
  scripts: RedisScripts;
  lockKey: string;
  outcomeKey: string;
  token: string;
  ttlMs: number;
  validFrom: number;
  attempt: number;
  logger: Logger;
}

/** The job's lease: renewed every third of its TTL; lost (signal aborted) when another token holds it or it may have lapsed. */
class RedisJobLease implements JobLease {
  readonly attempt: number;
  readonly signal: AbortSignal;
  private readonly lost = new AbortController();
  private validUntil: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly context: LeaseContext) {
    this.attempt = context.attempt;
    this.signal = this.lost.signal;
    this.validUntil = context.validFrom + context.ttlMs;
    this.schedule(Math.floor(context.ttlMs / 3));
  }

  async record(outcome: JobOutcome): Promise<boolean> {
    if (this.signal.aborted) return false;
    this.stop();
    const { scripts, lockKey, outcomeKey, token } = this.context;
    // Fenced inside Redis: the outcome is set only if the lease key still holds this token.
    return scripts.run('recordJob', [lockKey, outcomeKey], [token, JSON.stringify(outcome), OUTCOME_TTL_SECONDS]);
  }

  async release(): Promise<void> {
    const wasHeld = !this.signal.aborted;
    this.stop();
    if (!wasHeld) return;
    try {
      const freed = await within(this.context.scripts.run('deleteIfHeld', [this.context.lockKey], [this.context.token]), CALL_TIMEOUT_MS);
      if (freed === TIMED_OUT) this.context.logger.warn('Redis did not answer the job lease release; it lapses by itself');
    } catch (error) {
      this.context.logger.warn({ err: errorMessage(error) }, 'could not free the job lease; it lapses by itself');
    }
  }

  private get retryMs(): number {
    return Math.min(Math.max(Math.floor(this.context.ttlMs / 10), 50), 2_000);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.renew(), delayMs);
    this.timer.unref();
  }

  private stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    const { scripts, lockKey, token, ttlMs } = this.context;
    const sentAt = Date.now();
    try {
      const outcome = await within(scripts.run('renewLease', [lockKey], [token, ttlMs]), Math.max(1, this.validUntil - sentAt));
      if (this.stopped) return;
      if (outcome === 'renewed') {
        this.validUntil = Math.max(this.validUntil, sentAt + ttlMs);
        this.schedule(Math.floor(ttlMs / 3));
        return;
      }
      this.lose(outcome === TIMED_OUT ? 'Redis did not answer the job lease renewal before it could lapse' : 'the job lease lapsed or another host took the job');
    } catch (error) {
      if (this.stopped) return;
      if (Date.now() + this.retryMs >= this.validUntil) {
        this.lose(`renewing the job lease failed: ${errorMessage(error)}; it may have lapsed`);
        return;
      }
      this.schedule(this.retryMs);
    }
  }

  private lose(message: string): void {
    this.stop();
    this.context.logger.warn(message);
    this.lost.abort(new LockLostError(message));
  }
}
