// Sends a host's progress to the coordinator without holding up the deploy: each
// update replaces the one not yet sent, the host leaving service, its new version being
// checked and its end go out at once (a slot just taken waits a moment for the drain), other
// steps at most every 5 s, and only the final report is awaited. A report
// is kept until the coordinator acknowledges it: a coordinator that is restarting or
// cut off gets it when it is back, as long as the deploy's deadline allows.
import type { Logger } from '../../shared/contract/logger.js';
import { FINAL_HOST_STATES, type HostReport } from '../../shared/contract/schemas.js';
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
  /** Least time between two reports of the same state and stage; REPORT_SPACING_MS unless given. */
  spacingMs?: number;
  /** How long a report that is not urgent waits for what follows it; SETTLE_MS unless given. */
  settleMs?: number;
  now?: () => number;
}

/**
 * Each report is a request the coordinator verifies, stores and streams, and a host's steps
 * come fast (drain and pull take tens of milliseconds): sent one by one they were 7 requests
 * per host per deploy, most of a coordinator's work in a large fleet. What an operator acts
 * on goes out at once: the moment the host is out of service (drained: its `pull` step), the
 * moment its new version is up and being checked (its `health` step), and a change of the
 * state of the deploy's job it runs. The final report goes when the host has counted itself
 * out (finish()). A slot just taken waits until no step came for SETTLE_MS, so "deploying"
 * and "out of service" usually go as one report. Other steps go at most every
 * REPORT_SPACING_MS, each after settling too, and every report carries all steps with their
 * times. A host starts out `waiting` as if it had just said so. A rolling host sends 3
 * reports: out of service, being checked, the end.
 */
export const REPORT_SPACING_MS = 5_000;
/** A drain takes tens of milliseconds here; a slower one lets the slot's report go alone. */
export const SETTLE_MS = 250;

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
  private lastSentStage = 0;
  /** When the last update came. */
  private updatedAt = 0;
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
    this.updatedAt = this.now();
    // A new state or stage ends a wait, which is then judged again.
    if (report.state !== this.lastSentState || this.isUrgent(report)) this.hurry?.();
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
      // A wait ends early on news (update() hurries it), so the report in hand is judged again.
      const waitMs = this.finalQueued || this.delivery.signal.aborted ? 0 : this.waitFor(this.pending);
      if (waitMs > 0) {
        await this.pause(waitMs);
        continue;
      }
      const report = this.pending;
      this.pending = undefined;
      this.lastSentAt = this.now();
      this.lastSentState = report.state;
      this.lastSentJob = report.job?.state;
      this.lastSentStage = stageOf(report);
      await this.send(report);
    }
  }

  /** Out of service, being checked, or a new state of the deploy's job this host runs: sent at once. */
  private isUrgent(report: HostReport): boolean {
    return report.job?.state !== this.lastSentJob || stageOf(report) !== this.lastSentStage;
  }

  /**
   * How long `report` may wait: nothing when urgent; a slot just taken until no step came
   * for SETTLE_MS (the drain follows it); a final state the spacing, for finish() to send
   * it with the count of hosts left; anything else both. A deploy has a dozen steps at most,
   * so the settling ends.
   */
  private waitFor(report: HostReport): number {
    if (this.isUrgent(report)) return 0;
    const now = this.now();
    const settledAt = this.updatedAt + (this.delivery.settleMs ?? SETTLE_MS);
    const spacingMs = this.delivery.spacingMs ?? REPORT_SPACING_MS;
    if (FINAL_HOST_STATES.has(report.state)) return this.updatedAt + spacingMs - now;
    if (report.state !== this.lastSentState) return settledAt - now;
    return Math.max(settledAt, this.lastSentAt + spacingMs) - now;
  }

  /** Waits `waitMs`; news, the final report or the agent's stop cut it short. */
  private pause(waitMs: number): Promise<void> {
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

/** How far the host got: 0 in service, 1 drained (its `pull` step), 2 its new version up and being checked (`health`). */
function stageOf(report: HostReport): number {
  let stage = 0;
  for (const { step } of report.steps) {
    if (step === 'health') return 2;
    if (step === 'pull') stage = 1;
  }
  return stage;
}
