// Every deploy ends: once a second, hosts Serf reports gone are counted out of the deploys
// they were part of, and deploys past their deadline fail and stop (their waiting hosts
// stand down). A lost host's slot is never taken from it: its short lease lapses by itself,
// and a host that took a slot stays counted out of service (against k) until it serves
// again, so the rollout goes on with one slot fewer rather than draining another.
// While the coordinator's own Serf view looks cut off (most members, or most of a deploy's
// targets, unreachable at once), it calls nobody lost: the deadline still ends the deploy.
// A frozen group's deploys are parked, not ended, and get their frozen time back.
// A tick reads each running deploy's record (parsed once per change) and no report: only
// the targets Serf calls gone have their own report read, once each until it is final,
// and a deploy about to end past its deadline is read whole to name its unfinished hosts.
import { ConflictError, errorMessage } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import { FINAL_HOST_STATES, type HostReport } from '../shared/contract/schemas.js';
import type { FleetControl, FreezeMark } from '../shared/ports/fleet-state.js';
import type { Membership, SerfMember } from '../shared/ports/membership.js';
import type { DeployRecord, DeployStore } from '../shared/ports/deploy-store.js';
import { ReportRecorder } from './report-recorder.js';
import { failPastDeadline } from './past-deadline.js';
import type { FleetEventPublisher } from './fleet-event-bus.js';
import type { Leadership } from './leadership/coordinator-lease.js';

/** Deploys looked at per tick, oldest first; the rest wait for the next tick. */
const MAX_DEPLOYS_PER_TICK = 500;
const DEFAULT_INTERVAL_MS = 1_000;

export interface DeployWatchdogOptions {
  store: DeployStore;
  membership: Membership;
  fleet: FleetControl;
  /** A deploy still in progress this long after its creation ends `failed`. */
  deadlineMs: number;
  intervalMs?: number;
  logger: Logger;
  now?: () => number;
  /** Told of the hosts it counts lost and the deploys it ends. */
  fleetEvents: FleetEventPublisher;
  /** With two coordinators, only the lease holder judges: checked before every pass and every deploy. Always judges unless given. */
  leadership?: Leadership;
}

export interface TickSummary {
  /** Deploys looked at. */
  checked: number;
  /** `deployId/host` of each host counted out as lost. */
  lost: string[];
  /** Ids of the deploys that ran past their deadline. */
  timedOut: string[];
}

export class DeployWatchdog implements AsyncDisposable {
  readonly #options: DeployWatchdogOptions;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #reports: ReportRecorder;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<TickSummary> | undefined;
  #membershipFailing = false;
  #viewCutOff = false;
  /** Deploys whose targets are mostly unreachable, so judged no further until they are back. */
  readonly #heldDeploys = new Set<string>();
  /** Per running deploy, the targets Serf calls gone whose report was read final: never read again (a final report stays final). */
  readonly #endedGone = new Map<string, Set<string>>();
  /** Deploys past their deadline kept in progress because their group is frozen: the freeze that parks each, and the frozen time the deploy had then. */
  readonly #parkedDeploys = new Map<string, { mark: FreezeMark; frozenMs: number }>();

  constructor(options: DeployWatchdogOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'watchdog' });
    this.#now = options.now ?? Date.now;
    this.#reports = new ReportRecorder({ store: options.store, fleet: options.fleet, logger: options.logger, now: this.#now, fleetEvents: options.fleetEvents });
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // A tick slower than the interval is not overlapped by the next.
      if (!this.#running) void this.tick();
    }, this.#options.intervalMs ?? DEFAULT_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a tick under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** One pass over the deploys in progress. Never rejects; a failure is logged and retried next tick. */
  tick(): Promise<TickSummary> {
    this.#running ??= this.#tick()
      .catch((error: unknown) => {
        this.#logger.error({ err: error }, 'watchdog tick failed');
        return { checked: 0, lost: [], timedOut: [] };
      })
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  async #tick(): Promise<TickSummary> {
    const { store } = this.#options;
    const summary: TickSummary = { checked: 0, lost: [], timedOut: [] };
    if (!(await this.#leads('confirm'))) return summary;
    const ids = await store.inProgressDeployIds(MAX_DEPLOYS_PER_TICK);
    // A deploy that ended by its hosts' reports leaves the index without passing through #check.
    const listed = new Set(ids);
    for (const id of this.#endedGone.keys()) if (!listed.has(id)) this.#forget(id);
    if (ids.length === 0) return summary;
    const members = await this.#members();
    for (const id of ids) {
      // A coordinator that paused past its lease stops here: another may be judging by now.
      if (!(await this.#leads())) break;
      try {
        await this.#check(id, members, summary);
      } catch (error) {
        this.#logger.error({ err: error, deployId: id }, 'could not check a deploy in progress');
      }
    }
    return summary;
  }

  /** True unless a lease is in play and this coordinator does not hold it (read back from Redis with 'confirm'). */
  async #leads(how: 'local' | 'confirm' = 'local'): Promise<boolean> {
    const { leadership } = this.#options;
    if (!leadership) return true;
    return how === 'confirm' ? leadership.confirm() : leadership.leading;
  }

  /** Every member with its status, by name; undefined when Serf cannot say, so nobody is declared lost. */
  async #members(): Promise<Map<string, SerfMember> | undefined> {
    let members: SerfMember[];
    try {
      members = await this.#options.membership.members();
    } catch (error) {
      if (!this.#membershipFailing) this.#logger.warn({ err: errorMessage(error) }, 'cannot list Serf members; lost hosts are not detected until it answers');
      this.#membershipFailing = true;
      return undefined;
    }
    if (this.#membershipFailing) this.#logger.info('Serf members listed again');
    this.#membershipFailing = false;
    // An agent that lists nobody, itself included, has no view of the cluster to judge by.
    if (members.length === 0) return undefined;
    const failed = members.filter((member) => member.status === 'failed').length;
    const cutOff = mostOf(failed, members.length);
    if (cutOff !== this.#viewCutOff) {
      if (cutOff) this.#logger.warn({ failed, members: members.length }, 'most Serf members unreachable at once: this coordinator looks cut off; calling no host lost until they are back');
      else this.#logger.info({ failed, members: members.length }, 'most Serf members reachable again; lost hosts are detected again');
    }
    this.#viewCutOff = cutOff;
    if (cutOff) return undefined;
    return new Map(members.map((member) => [member.name, member]));
  }

  async #check(id: string, members: Map<string, SerfMember> | undefined, summary: TickSummary): Promise<void> {
    const { store, deadlineMs } = this.#options;
    const record = await store.getRecord(id);
    if (!record || record.status !== 'in_progress') {
      await store.dropFromInProgress(id);
      this.#forget(id);
      return;
    }
    summary.checked += 1;
    const log = this.#logger.child({ deployId: id, role: record.role, env: record.env });
    const now = this.#now();

    // Time a freeze parked it is given back (coordinator/freeze-routes.ts), and a frozen group's deploys wait, never end here.
    if (now - record.createdAt >= deadlineMs + (record.frozenMs ?? 0) && !(await this.#parked(record, now, log))) {
      this.#heldDeploys.delete(id);
      if (await failPastDeadline(this.#options, id, now, log)) summary.timedOut.push(id);
      return;
    }

    if (!members) return;
    if (this.#holdsJudgement(record, members, log)) return;
    const ended = this.#endedGone.get(id) ?? new Set<string>();
    this.#endedGone.set(id, ended);
    for (const host of record.targets ?? []) {
      const status = members.get(host)?.status;
      if (status !== undefined && status !== 'failed' && status !== 'left') continue;
      if (ended.has(host)) continue;
      // Only a target Serf calls gone costs a read: its own report, not the deploy's.
      const report = (await store.getHostView(id, host))?.mine;
      if (report && FINAL_HOST_STATES.has(report.state)) {
        ended.add(host);
        continue;
      }
      if (!(await this.#leads())) return;
      if (await this.#countOut(record, host, report, status, log)) {
        summary.lost.push(`${id}/${host}`);
        ended.add(host);
      }
    }
  }

  /** What the watchdog kept about a deploy that is no longer in progress. */
  #forget(id: string): void {
    this.#heldDeploys.delete(id);
    this.#parkedDeploys.delete(id);
    this.#endedGone.delete(id);
  }

  /**
   * True while the deploy's group is frozen: a freeze parks a rollout, it does not end it
   * (logged once). A freeze that lapsed by itself (its `until` passed) gives the parked
   * deploy its frozen time back here, as an unfreeze does, so it is not ended at once.
   */
  async #parked(deploy: DeployRecord, now: number, log: Logger): Promise<boolean> {
    const { fleet, store } = this.#options;
    const mark = await fleet.frozen({ role: deploy.role, env: deploy.env });
    if (mark) {
      if (!this.#parkedDeploys.has(deploy.id)) log.warn({ reason: mark.reason, by: mark.by, until: mark.until }, 'deploy past its deadline while its group is frozen: parked, not ended');
      this.#parkedDeploys.set(deploy.id, { mark, frozenMs: deploy.frozenMs ?? 0 });
      return true;
    }
    const parked = this.#parkedDeploys.get(deploy.id);
    this.#parkedDeploys.delete(deploy.id);
    // Not parked, or an unfreeze already gave the time back: judged as any deploy.
    if (!parked || parked.frozenMs !== (deploy.frozenMs ?? 0)) return false;
    const lapsed = parked.mark;
    const frozenMs = Math.max(0, Math.min(now, lapsed.until ?? now) - Math.max(lapsed.at, deploy.createdAt));
    await store.annotateDeploy(deploy.id, { deadlineAt: (deploy.deadlineAt ?? deploy.createdAt + this.#options.deadlineMs) + frozenMs, frozenMs: (deploy.frozenMs ?? 0) + frozenMs });
    log.info({ frozenMs }, 'freeze of the group lapsed: the parked deploy gets its frozen time back');
    return true;
  }

  /**
   * True while more than half of the deploy's targets are unreachable (failed or not listed;
   * a graceful leave does not count): more likely this coordinator's view than the hosts.
   * Logged once when the hold starts and once when it ends.
   */
  #holdsJudgement(deploy: DeployRecord, members: Map<string, SerfMember>, log: Logger): boolean {
    const targets = deploy.targets ?? [];
    const unreachable = targets.filter((host) => {
      const status = members.get(host)?.status;
      return status === undefined || status === 'failed';
    });
    const hold = mostOf(unreachable.length, targets.length);
    if (hold && !this.#heldDeploys.has(deploy.id)) {
      this.#heldDeploys.add(deploy.id);
      log.warn({ unreachable, targets: targets.length }, "most of the deploy's hosts unreachable at once: holding judgement, calling none lost; the deadline still ends the deploy");
    } else if (!hold && this.#heldDeploys.delete(deploy.id)) {
      log.info({ unreachable }, "most of the deploy's hosts reachable again; lost hosts are detected again");
    }
    return hold;
  }

  /** Counts a lost host out and stores its `lost` report; true when the report was stored. */
  async #countOut(deploy: DeployRecord, host: string, last: HostReport | undefined, status: string | undefined, log: Logger): Promise<boolean> {
    const { fleet } = this.#options;
    const group = { role: deploy.role, env: deploy.env };
    const targets = deploy.targets?.length ?? 1;
    const stillOut = await fleet.isOutOfService(group, host);
    let remaining: number;
    try {
      remaining = await fleet.finishHost(group, deploy.id, host);
    } catch (error) {
      if (!(error instanceof ConflictError && error.code === 'deploy_counter_missing')) throw error;
      // No host has counted the group yet (the event may not have reached any): count it
      // from the targets, as the agents will find it set.
      await fleet.initRemaining(group, deploy.id, targets, log);
      remaining = await fleet.finishHost(group, deploy.id, host);
    }
    const error = status === undefined ? 'Serf no longer lists the host' : `Serf reports the host ${status}`;
    const report: HostReport & { state: 'lost' } = {
      host,
      state: 'lost',
      steps: last?.steps ?? [],
      ...(last?.slot !== undefined ? { slot: last.slot } : {}),
      ...(last?.counted !== undefined ? { counted: last.counted } : {}),
      remaining,
      error,
      endedAt: this.#now(),
    };
    const recorded = await this.#reports.recordLost(deploy.id, report);
    if (!recorded?.applied) return false;
    log.warn(
      { host, serfStatus: status ?? 'not listed', remaining, outOfService: stillOut },
      stillOut ? 'host lost; counted out of the deploy; it counts against k until it serves again' : 'host lost; counted out of the deploy',
    );
    return true;
  }
}

/** More than half: the share of unreachable members that says the observer, not they, is cut off. */
const mostOf = (part: number, whole: number) => whole > 0 && part * 2 > whole;
