// Sends a host's progress to the coordinator without holding up the deploy: each
// update replaces the one not yet sent, a change of state goes out at once, new steps
// alone at most once a second, and only the final report is awaited. A report
// is kept until the coordinator acknowledges it: a coordinator that is restarting or
// cut off gets it when it is back, as long as the deploy's deadline allows.
import type { Logger } from '../../shared/contract/logger.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { GrapevineError, NotFoundError, UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import { backoff, retry } from '../../shared/contract/waiting.js';

export interface ReportSink {
  report(deployId: string, report: HostReport): Promise<unknown>;
}

export interface ReportDelivery {
  /** Past this moment (ms since the epoch) the deploy is over for the coordinator: a report still unsent is dropped. */
  deadlineAt: number;
  /** Fires when the agent stops: the report in hand gets no further try. */
  signal: AbortSignal;
  /** Pauses between tries; REPORT_RETRIES_MS unless given. */
  delaysMs?: readonly number[];
  /** Least time between two reports of the same state; REPORT_SPACING_MS unless given. A new state never waits. */
  spacingMs?: number;
  now?: () => number;
}

/**
 * Each report is a request the coordinator verifies, stores and streams, and a host's steps
 * come fast (drain and pull take tens of milliseconds): sent one by one they were 7 requests
 * per host per deploy, most of a coordinator's work in a large fleet. What an operator acts
 * on goes out at once: a change of state (waiting, deploying, the end), the moment the host
 * is out of service (drained: its `pull` step) and a change of the state of the deploy's job
 * it runs. Other steps go at most once a second, so a step in progress (a health check that
 * a fault drill or an operator waits on) shows within a second, and every report carries all
 * steps with their times. A host starts out `waiting` as if it had just said so: a host whose
 * slot comes within a second first reports with it.
 */
export const REPORT_SPACING_MS = 1_000;

/**
 * From 1 s doubling to 3 s between tries, so a coordinator back from an outage has every
 * kept report within about 3 s (a deploy whose hosts all ended while it was away ends
 * within 10 s of its return); a try at a coordinator that is down costs a refused
 * connection. The count bounds it even if the clock misleads (600 tries is 30 min).
 */
const REPORT_RETRIES_MS = backoff(1_000, 600, 3_000);

/**
 * A coordinator that did not answer, failed inside (5xx), or does not know the deploy yet
 * (its Redis still loading after a restart) may take the report later; a refusal (bad
 * report, wrong token, a conflict) will not change.
 */
function worthResending(error: unknown): boolean {
  return (
    error instanceof UnreachableError ||
    error instanceof NotFoundError ||
    (error instanceof GrapevineError && error.code === 'coordinator_error') ||
    !(error instanceof GrapevineError)
  );
}

export class ProgressReporter {
  private pending: HostReport | undefined;
  private sending: Promise<void> | undefined;
  private lastSentAt: number;
  private lastSentState: HostReport['state'] = 'waiting';
  private lastSentJob: string | undefined;
  private lastSentOut = false;
  /** Set by finish(): the final report goes without waiting for its turn. */
  private finalQueued = false;
  /** Ends the wait between two progress reports early (the final report came). */
  private hurry: (() => void) | undefined;
  private readonly now: () => number;

  constructor(
    private readonly sink: ReportSink,
    private readonly deployId: string,
    private readonly logger: Logger,
    private readonly delivery: ReportDelivery,
  ) {
    this.now = delivery.now ?? Date.now;
    this.lastSentAt = this.now();
  }

  /** `report` is kept as given, not copied: the caller hands over a fresh one each time (HostProgress's snapshot). */
  update(report: HostReport): void {
    this.pending = report;
    if (this.isNews(report)) this.hurry?.();
    this.sending ??= this.drain().finally(() => {
      this.sending = undefined;
    });
  }

  /** Sends the final report and waits until the coordinator took it, refused it, the deadline passed or the agent stopped. */
  async finish(report: HostReport): Promise<void> {
    this.finalQueued = true;
    this.hurry?.();
    this.update(report);
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      // Awaited only when there is a wait: a report due now leaves in this very turn.
      const spacing = this.finalQueued ? undefined : this.spaced();
      if (spacing) await spacing;
      const report = this.pending;
      this.pending = undefined;
      this.lastSentAt = this.now();
      this.lastSentState = report.state;
      this.lastSentJob = report.job?.state;
      this.lastSentOut = isOutOfService(report);
      await this.send(report);
    }
  }

  /** A new state of the host or of the deploy's job it runs, or the host out of service: what an operator watches for, sent at once. */
  private isNews(report: HostReport): boolean {
    return report.state !== this.lastSentState || report.job?.state !== this.lastSentJob || isOutOfService(report) !== this.lastSentOut;
  }

  /** Waits out the spacing since the last report of the same state; a new state, the final report or the agent's stop cut it short. */
  private spaced(): Promise<void> | undefined {
    if (this.pending && this.isNews(this.pending)) return undefined;
    const waitMs = this.lastSentAt + (this.delivery.spacingMs ?? REPORT_SPACING_MS) - this.now();
    if (waitMs <= 0) return undefined;
    const signal = this.delivery.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.hurry = undefined;
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      signal.addEventListener('abort', done, { once: true });
      this.hurry = done;
    });
  }

  private async send(first: HostReport): Promise<void> {
    let report = first;
    try {
      await retry(
        () => {
          // A newer report supersedes the one being retried: the coordinator needs only the latest.
          if (this.pending) [report, this.pending] = [this.pending, undefined];
          return this.sink.report(this.deployId, report);
        },
        {
          delaysMs: this.delivery.delaysMs ?? REPORT_RETRIES_MS,
          retryIf: (error) => worthResending(error) && this.now() < this.delivery.deadlineAt,
          signal: this.delivery.signal,
          onRetry: (error, attempt, retryInMs) => {
            if (attempt === 1 || attempt % 10 === 0) {
              this.logger.warn({ err: errorMessage(error), state: report.state, attempt, retryInMs }, 'coordinator did not take the report; keeping it to send again');
            }
          },
        },
      );
    } catch (error) {
      this.logger.warn({ err: errorMessage(error), state: report.state }, 'could not report progress to the coordinator; report dropped');
    }
  }
}

/** Drained and not yet back: its steps have reached `pull` (the step after the drain). */
function isOutOfService(report: HostReport): boolean {
  return report.steps.some((s) => s.step === 'pull');
}
