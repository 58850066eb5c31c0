// The few plain reads `--wait` makes besides the event stream: the summary (at the start, after
// a gap in the stream, at the end, or on every poll when there is no stream), and the host
// reports that happened before it looked or that a gap lost, page by page. Each read rides
// out a coordinator that is unreachable for up to OUTAGE_MS; any refusal ends the watch.
import { WHOLE_DEPLOY_HOSTS, type DeploySummary, type HostReportPage } from '../../shared/contract/deploy-views.js';
import { TimeoutError, UnreachableError } from '../../shared/contract/errors.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { pause } from '../../shared/contract/waiting.js';
import type { FollowState } from './follow-state.js';

/** What `--wait` reads of a deploy over plain requests: the coordinator client has all three. */
export interface DeploySummaryReader {
  getSummary(id: string): Promise<DeploySummary>;
  getDeploy(id: string): Promise<Deploy>;
  hostReports(id: string, page: { limit?: number; cursor?: string }): Promise<HostReportPage>;
}

/** The largest page of host reports the coordinator gives. */
export const REPORT_PAGE = 1_000;
/** Pages read at most in one go: 100 000 hosts. */
const MAX_PAGES = 100;
/** Between two tries of a coordinator that does not answer. */
const RETRY_MS = 500;

export interface ReadLimits {
  deadline: number;
  outageMs: number;
  now: () => number;
  signal?: AbortSignal | undefined;
}

export class FollowReads {
  #unreachableSince: number | undefined;
  /** Requests made, for the figures `--wait` is measured by. */
  requests = 0;

  constructor(
    private readonly reader: DeploySummaryReader,
    private readonly id: string,
    private readonly limits: ReadLimits,
  ) {}

  summary(): Promise<DeploySummary> {
    return this.tolerant(() => this.reader.getSummary(this.id));
  }

  /**
   * What happened before the stream was open: the whole record once when the deploy is small
   * enough to come whole (its target list, which a summary of many hosts leaves out, and its
   * reports so far), else the reports page by page. Nothing when there is nothing to read.
   */
  async fillIn(state: FollowState, summary: DeploySummary): Promise<void> {
    const targetsMissing = summary.targets === undefined && summary.targetCount > 0;
    if (summary.reported === 0 && !(targetsMissing && summary.targetCount <= WHOLE_DEPLOY_HOSTS)) return;
    if (summary.targetCount <= WHOLE_DEPLOY_HOSTS && summary.reported <= WHOLE_DEPLOY_HOSTS) {
      const deploy = await this.tolerant(() => this.reader.getDeploy(this.id));
      const { hostsNext, ...whole } = deploy;
      state.absorb(whole);
      if (hostsNext !== undefined) await this.pages(state, hostsNext);
      return;
    }
    await this.pages(state);
  }

  /** Every host report, page by page from `cursor`, into `state`. */
  async pages(state: FollowState, cursor?: string): Promise<void> {
    let next = cursor;
    for (let page = 0; page < MAX_PAGES; page++) {
      const at = next;
      const answer = await this.tolerant(() => this.reader.hostReports(this.id, { limit: REPORT_PAGE, ...(at === undefined ? {} : { cursor: at }) }));
      for (const report of answer.hosts) state.addReport(report);
      next = answer.next;
      if (next === undefined) return;
    }
  }

  /** The reports of a deploy small enough for one page, else nothing: the polling fallback's per-host view. */
  async onePage(state: FollowState, summary: DeploySummary): Promise<void> {
    if (summary.reported === 0 || summary.reported > REPORT_PAGE) return;
    const answer = await this.tolerant(() => this.reader.hostReports(this.id, { limit: REPORT_PAGE }));
    for (const report of answer.hosts) state.addReport(report);
  }

  /** Waits `ms`, or less when the deadline comes first; a TimeoutError past it. */
  async pause(ms: number): Promise<void> {
    const left = this.limits.deadline - this.limits.now();
    if (left <= 0) throw this.timedOut();
    await pause(Math.min(ms, left), this.limits.signal);
  }

  timedOut(): TimeoutError {
    return new TimeoutError(`deploy ${this.id} still in progress`);
  }

  /**
   * Tries `task` again while the coordinator is unreachable, for up to the outage window
   * counted from the first failure in a row (a restart, a Redis failover); a refusal (401,
   * 403, 404, a bad answer) ends the watch at once with its error.
   */
  async tolerant<T>(task: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        this.requests++;
        const value = await task();
        this.#unreachableSince = undefined;
        return value;
      } catch (error) {
        this.noteUnreachable(error);
        await this.pause(RETRY_MS);
      }
    }
  }

  /** Rethrows `error` unless it is an outage still within the window; also the stream's reconnects use it. */
  noteUnreachable(error: unknown): void {
    if (!(error instanceof UnreachableError)) throw error;
    const now = this.limits.now();
    this.#unreachableSince ??= now;
    if (now - this.#unreachableSince >= this.limits.outageMs) throw error;
  }

  reachable(): void {
    this.#unreachableSince = undefined;
  }
}
