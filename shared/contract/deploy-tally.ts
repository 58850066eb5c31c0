// A deploy's tally computed from its reports: what the Redis store keeps as reports arrive
// (apply-report-5.lua), counted here from scratch for in-memory stores and for tests.
import { FINAL_HOST_STATES, type HostReport } from './schemas.js';

export interface TallyOfReports {
  counts: Partial<Record<HostReport['state'], number>>;
  reported: number;
  targets: number;
  targetsEnded: number;
  expectedHosts?: number;
}

export function tallyReports(targets: readonly string[] | undefined, expectedHosts: number | undefined, hosts: Record<string, HostReport>): TallyOfReports {
  const counts: TallyOfReports['counts'] = {};
  for (const report of Object.values(hosts)) counts[report.state] = (counts[report.state] ?? 0) + 1;
  const ended = (targets ?? []).filter((target) => {
    const state = hosts[target]?.state;
    return state !== undefined && FINAL_HOST_STATES.has(state);
  }).length;
  return {
    counts,
    reported: Object.keys(hosts).length,
    targets: targets?.length ?? 0,
    targetsEnded: ended,
    ...(expectedHosts === undefined ? {} : { expectedHosts }),
  };
}
