// A deploy with every host's report, for the rare reader that judges them all (the watchdog,
// once per deploy per tick): HTTP-sized reads return the first page of a large deploy.
import type { Deploy } from '../shared/contract/schemas.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';

/** Pages of host reports read at once while the watchdog judges a large deploy. */
const REPORT_PAGE = 1_000;

/**
 * The deploy with every host's report: GET-sized reads return the first page of a large one,
 * and a host left off would look unfinished. Read once per deploy per tick, never per report.
 */
export async function wholeDeploy(store: DeployStore, id: string): Promise<Deploy | undefined> {
  const deploy = await store.getDeploy(id);
  if (!deploy || deploy.hostsNext === undefined) return deploy;
  const hosts = { ...deploy.hosts };
  let cursor: string | undefined;
  // Bounded: a page moves the cursor on; a deploy has at most as many reports as hosts reported.
  for (let page = 0; page < 10_000; page += 1) {
    const answer = await store.hostReports(id, { limit: REPORT_PAGE, ...(cursor === undefined ? {} : { cursor }) });
    for (const report of answer?.hosts ?? []) hosts[report.host] = report;
    cursor = answer?.next;
    if (cursor === undefined) break;
  }
  const { hostsNext: _rest, ...whole } = deploy;
  return { ...whole, hosts };
}
