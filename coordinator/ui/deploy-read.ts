// What a deploy's page reads on each refresh: the summary (its counts over every host) and
// one page of host reports, never the whole record, so a refresh costs the same at 10 000
// hosts as at 6. The target list (empty lanes for hosts not heard from) is read only when
// the deploy fits in one page; past that, the counts say how many were not heard from.
import type { DeployCounts } from '../../shared/contract/deploy-views.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import type { DeployStore } from '../../shared/ports/deploy-store.js';

/** Host reports per page of the deploy page: lanes and rows a person can still read. */
export const HOSTS_PER_PAGE = 200;

/** Which hosts a deploy's page shows, and what the rest add up to. */
export interface HostsShown {
  /** Hosts per state over the whole deploy. */
  counts: DeployCounts;
  reported: number;
  targetCount: number;
  /** This page's cursor; the first page has none. */
  cursor?: string;
  /** The next page's cursor; absent on the last. */
  next?: string;
}

export interface DeployForPage {
  /** The record with the reports of this page only. */
  deploy: Deploy;
  hosts: HostsShown;
}

/** The deploy with one page of its reports; undefined when there is no such deploy (or no such page). */
export async function readDeployForPage(store: DeployStore, id: string, cursor?: string): Promise<DeployForPage | undefined> {
  const summary = await store.getSummary(id);
  if (!summary) return undefined;
  const [page, record] = await Promise.all([
    store.hostReports(id, { limit: HOSTS_PER_PAGE, ...(cursor === undefined ? {} : { cursor }) }),
    // A summary names at most a few targets; one page's worth comes with the record.
    summary.targets === undefined && summary.targetCount > 0 && summary.targetCount <= HOSTS_PER_PAGE ? store.getRecord(id) : undefined,
  ]);
  if (!page) return undefined;
  const { counts, reported, targetCount, targets: named, ...rest } = summary;
  const targets = record?.targets ?? named;
  const deploy: Deploy = {
    ...rest,
    // Lanes of the targets not heard from go with the first page only.
    ...(targets === undefined || cursor !== undefined ? {} : { targets }),
    hosts: Object.fromEntries(page.hosts.map((report) => [report.host, report])),
  };
  return {
    deploy,
    hosts: { counts, reported, targetCount, ...(cursor === undefined ? {} : { cursor }), ...(page.next === undefined ? {} : { next: page.next }) },
  };
}
