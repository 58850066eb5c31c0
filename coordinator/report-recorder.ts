// The one path a host's report takes, whether its agent sent it or the watchdog counted
// the host out: stored, a failure marks the release broken as the fleet's first mark
// names it, and a deploy that is over gets its outcome from coordinator/deploy-outcome.ts.
import type { Logger } from '../shared/contract/logger.js';
import type { BrokenMark, HostReport } from '../shared/contract/schemas.js';
import type { DeployRecord, DeployStore, StoredReport } from '../shared/ports/deploy-store.js';
import type { FleetControl } from '../shared/ports/fleet-state.js';
import { deployIsOver, deployOutcome, namesHosts } from './deploy-outcome.js';
import { stopRollouts } from './stop-rollouts.js';
import { jobToKeep } from './job-record.js';
import { deployRef } from '../shared/contract/fleet-events.js';
import type { FleetEventPublisher } from './fleet-event-bus.js';

export interface ReportRecorderDeps {
  store: DeployStore;
  fleet: FleetControl;
  logger: Logger;
  now: () => number;
  /** Told of every report stored, of a release's first broken mark and of the deploy's end. */
  fleetEvents: FleetEventPublisher;
}

export interface RecordedReport {
  /** False when a `lost` report was held back: the deploy had ended, or the host had reported an end itself. */
  applied: boolean;
  /** The deploy record after the report, ended when the report ended it. */
  record: DeployRecord;
}

/** The host that failed first and why, as the release's broken mark will say. */
interface FirstFailure {
  host: string;
  error: string;
  at: number;
}

export class ReportRecorder {
  readonly #deps: ReportRecorderDeps;
  readonly #logger: Logger;

  constructor(deps: ReportRecorderDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'deploy-reports' });
  }

  /** A host's own report; undefined when the deploy is unknown. A failure is logged here, where the deploy is known, and thrown. */
  async record(id: string, report: HostReport): Promise<RecordedReport | undefined> {
    const log = this.#logger.child({ deployId: id, host: report.host });
    try {
      const at = this.#deps.now();
      const stored = await this.#deps.store.applyReport(id, report, at);
      if (!stored) return undefined;
      log.debug({ state: report.state, remaining: report.remaining }, 'host report');
      this.#deps.fleetEvents.publish({ kind: 'host.reported', at, actor: report.host, deploy: deployRef(stored.record), report });
      // The host that ran the deploy's job reports it; the record keeps it for `grapevine status`.
      const job = jobToKeep(stored.record.job, report.job);
      if (job) stored.record = (await this.#deps.store.annotateDeploy(id, { job })) ?? stored.record;
      // Only `failed` is the release's fault; `errored` (a service the host needed did not answer) never breaks it.
      if (report.state === 'errored') log.warn({ error: report.error }, 'host errored; the release stays deployable');
      const firstFailed = report.state === 'failed' ? await this.#markBroken(stored, report, at, log) : undefined;
      return { applied: true, record: await this.#conclude(stored, firstFailed, at, log) };
    } catch (error) {
      log.warn({ err: error, state: report.state }, 'host report not taken; its agent sends it again');
      throw error;
    }
  }

  /** The watchdog's report on a host it counted out; undefined when the deploy is unknown. */
  async recordLost(id: string, report: HostReport & { state: 'lost' }): Promise<RecordedReport | undefined> {
    const at = this.#deps.now();
    const stored = await this.#deps.store.applyLostReport(id, report, at);
    if (!stored) return undefined;
    if (!stored.applied) return { applied: false, record: stored.record };
    const log = this.#logger.child({ deployId: id, host: report.host });
    this.#deps.fleetEvents.publish({ kind: 'host.reported', at, actor: 'coordinator', deploy: deployRef(stored.record), report });
    return { applied: true, record: await this.#conclude(stored, undefined, at, log) };
  }

  /** Ends the deploy when the rules say it is over; returns the record as it stands after. */
  async #conclude(stored: StoredReport, firstFailed: string | undefined, at: number, log: Logger): Promise<DeployRecord> {
    const { store } = this.#deps;
    const { record, tally, countedDown } = stored;
    // Decided on the counts; the reports an outcome names are read once, when it is over.
    if (!deployIsOver({ record, tally, countedDown })) return record;
    const unsuccessful = namesHosts(tally) ? await store.unsuccessfulReports(record.id) : [];
    let outcome = deployOutcome({ record, tally, countedDown, unsuccessful, ...(firstFailed === undefined ? {} : { firstFailed }) });
    if (!outcome) return record;
    if (outcome.status === 'failed' && firstFailed === undefined) {
      // Ended by a report that did not fail: the release's mark still names the first failure.
      const mark = (await store.getRelease(record.role, record.tag))?.broken;
      outcome = deployOutcome({ record, tally, countedDown, unsuccessful, ...(mark ? { firstFailed: mark.by } : {}) }) ?? outcome;
    }
    const ended = await store.finishDeploy(record.id, outcome.status, outcome.reason, at);
    if (!ended) return record;
    // Two reports can both find the deploy over; only the one whose finish took logs it.
    if (ended.finished) {
      log.info({ status: ended.record.status, reason: ended.record.reason }, 'deploy finished');
      this.#deps.fleetEvents.publish({ kind: 'deploy.finished', at, actor: 'coordinator', deploy: ended.record });
    }
    return ended.record;
  }

  /**
   * Marks the release broken naming the first host to fail (the fleet's mark, which the
   * failing agent sets before its report may arrive) and stops its rollouts everywhere.
   * Returns the host the release's mark names.
   */
  async #markBroken(stored: StoredReport, report: HostReport, at: number, log: Logger): Promise<string> {
    const { store, fleet } = this.#deps;
    const { role, env, tag } = stored.record;
    const mark = await fleet.brokenMark({ role, env }, tag);
    const candidate = failureOf(mark, stored) ?? { host: report.host, error: report.error ?? 'no error given', at };
    const reason = `host ${candidate.host} failed: ${candidate.error}`;
    const marked = await store.markReleaseBroken(role, tag, { reason, by: candidate.host, at: candidate.at });
    // The release's first mark stays: an earlier report (or an operator) may have set it. A host
    // reports its failure more than once (as it fails, and with its end), each time naming the
    // same mark: only the call that set the mark tells of it.
    const broken = marked?.release.broken;
    if (marked?.marked) {
      this.#deps.fleetEvents.publish({ kind: 'release.broken', at, actor: candidate.host, role, tag, reason });
    }
    const first =
      broken && broken.by !== candidate.host ? { host: broken.by, error: unprefixed(broken.reason, `host ${broken.by} failed: `) } : candidate;
    log.warn({ error: report.error, firstFailed: first.host }, 'host failed; release marked broken');
    // The report is stored either way, so a failure here must not make the agent resend it.
    await stopRollouts({ fleet, store, logger: log }, role, tag, { reason: first.error, by: first.host }).catch((error: unknown) =>
      log.error({ err: error }, 'could not stop the rollouts of the broken release in other environments'),
    );
    return first.host;
  }
}

/** The failure a fleet mark records, when a host of this deploy set it (not the coordinator or an operator). */
function failureOf(mark: BrokenMark | null, { record, report }: StoredReport): FirstFailure | undefined {
  if (!mark || !(record.targets?.includes(mark.by) || report?.host === mark.by)) return undefined;
  return { host: mark.by, error: mark.reason, at: mark.at };
}

function unprefixed(text: string, prefix: string): string {
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}
