// What the coordinator keeps: published releases per role, deploys with their per-host
// reports, and the tag each role and environment should run. The Redis implementation
// is shared/redis/deploy-store.ts; unit tests use an in-memory one. Every failure of the
// store reaches the caller as a GrapevineError (UnreachableError when it did not answer).
import type { BrokenMark, Deploy, HostReport, HostState, Release } from '../contract/schemas.js';
import type { DeploySummary, HostDeployView, HostReportPage } from '../contract/deploy-views.js';

/** A deploy as kept under its own key; host reports live beside it. */
export type DeployRecord = Omit<Deploy, 'hosts'>;
export type FinalDeployStatus = Exclude<Deploy['status'], 'in_progress'>;

export interface DeployFilter {
  role?: string;
  env?: string;
  limit: number;
}

/** What the deploy's reports add up to, kept as they arrive (constant size, never recounted). */
export interface DeployTally {
  /** Hosts per state of their latest report. */
  counts: Partial<Record<HostState, number>>;
  /** Hosts that reported at all. */
  reported: number;
  /** How many targets the deploy names (0: none named). */
  targets: number;
  /** Targets whose latest report is final. */
  targetsEnded: number;
  /** The first `counted` a host reported, once one did. */
  expectedHosts?: number;
}

/** A report as stored, with what the coordinator needs to decide whether it ended the deploy. */
export interface StoredReport {
  /** False when a `lost` report was held back (the deploy had ended, or the host had reported an end itself). */
  applied: boolean;
  record: DeployRecord;
  /** The host's latest report as stored (this one unless held back). */
  report?: HostReport;
  tally: DeployTally;
  /** Whether some host's count of the hosts still to finish has reached zero. */
  countedDown: boolean;
}

/** One page of a list, and the cursor of the next (absent on the last). */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** A deploy after a finish: `finished` is true for the one call that ended it, false when it had ended already. */
export interface FinishedDeploy {
  finished: boolean;
  record: DeployRecord;
}

/** A release after a broken mark: `marked` is true for the one call that set it, false when it was marked already. */
export interface MarkedRelease {
  marked: boolean;
  release: Release;
}

/** Fields a deploy record gains after its creation, outside its outcome. */
export type DeployAnnotation = Partial<Pick<DeployRecord, 'promotedTo' | 'promotion' | 'job' | 'strategy' | 'deadlineAt' | 'frozenMs'>>;

export interface DeployStore {
  /** True when the store answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean>;

  /** Records a release unless its role already has that tag; either way returns what is stored. */
  publishRelease(release: Release): Promise<{ created: boolean; release: Release }>;
  getRelease(role: string, tag: string): Promise<Release | undefined>;
  /** Every release of the role, newest first. */
  listReleases(role: string): Promise<Release[]>;
  newestRelease(role: string): Promise<Release | undefined>;
  /** Marks a release broken unless it already is (the first mark stays); undefined when unknown. */
  markReleaseBroken(role: string, tag: string, mark: BrokenMark): Promise<MarkedRelease | undefined>;

  /**
   * Stores a new deploy with the next sequence number of its role and environment, indexes
   * it and makes its tag the desired one; returns the record as stored, `seq` included.
   */
  createDeploy(deploy: DeployRecord): Promise<DeployRecord>;
  getDeploy(id: string): Promise<Deploy | undefined>;
  /** Deploys newest first. */
  listDeploys(filter: DeployFilter): Promise<Deploy[]>;
  /** The deploy without its host reports (targets included), parsed once per change of the record. */
  getRecord(id: string): Promise<DeployRecord | undefined>;
  /** The deploy as a summary: counts, not reports. */
  getSummary(id: string): Promise<DeploySummary | undefined>;
  /** One host's view of a deploy, in constant time whatever the fleet. */
  getHostView(id: string, host: string): Promise<HostDeployView | undefined>;
  /** Summaries newest first, a page at a time (`cursor` from the previous page); with `host`, that host's views. */
  listSummaries(filter: DeployFilter & { cursor?: string | undefined; host?: string | undefined }): Promise<Page<DeploySummary | HostDeployView>>;
  /** One page of the deploy's host reports; undefined when the deploy is unknown. */
  hostReports(id: string, page: { limit: number; cursor?: string | undefined }): Promise<HostReportPage | undefined>;
  /** The latest reports of the hosts that failed, errored, stood down or were lost: what an outcome names. */
  unsuccessfulReports(id: string): Promise<HostReport[]>;
  getDesiredTag(role: string, env: string): Promise<string | undefined>;
  /** What the group should run after a blue/green switch back: the tag of the colour now live, so no host catches up away from it. */
  setDesiredTag(role: string, env: string, tag: string): Promise<void>;
  /** Every environment the role was ever deployed to, sorted. */
  envsOfRole(role: string): Promise<string[]>;
  /** Ids of the deploys still in progress, oldest first, at most `limit`. */
  inProgressDeployIds(limit: number): Promise<string[]>;
  /** Takes a deploy out of the in-progress index (one whose record is gone or already ended). */
  dropFromInProgress(id: string): Promise<void>;

  /**
   * Stores `report` as the host's latest; the first `counted` becomes the deploy's
   * expectedHosts, a `remaining` of 0 marks it counted down. Whether that ends the deploy
   * is the coordinator's rule (coordinator/deploy-outcome.ts). Undefined when the deploy is unknown.
   */
  applyReport(id: string, report: HostReport, now: number): Promise<StoredReport | undefined>;
  /** As applyReport, for the watchdog's `lost` report: held back when the deploy ended or the host reported an end itself. */
  applyLostReport(id: string, report: HostReport & { state: 'lost' }, now: number): Promise<StoredReport | undefined>;
  /** Ends a deploy still in progress with `status` (and `reason`, unless it succeeded); a deploy that already ended keeps its outcome. */
  finishDeploy(id: string, status: FinalDeployStatus, reason: string | undefined, now: number): Promise<FinishedDeploy | undefined>;

  /** True for exactly one caller per deploy: the one that gets to promote it. */
  claimPromotion(id: string): Promise<boolean>;
  /** Records what came of a deploy's promotion; returns the record after, or undefined when unknown. */
  annotateDeploy(id: string, fields: DeployAnnotation): Promise<DeployRecord | undefined>;
}
