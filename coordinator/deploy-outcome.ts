// When a deploy ends and what its outcome says, from the hosts' reports: the rules the
// coordinator applies after every report, kept apart from the store so they read (and
// are tested) on their own.
import { FINAL_HOST_STATES, type HostReport } from '../shared/contract/schemas.js';
import type { DeployRecord, FinalDeployStatus } from '../shared/ports/deploy-store.js';

export interface DeployOutcome {
  status: FinalDeployStatus;
  reason?: string;
}

export interface OutcomeInput {
  record: DeployRecord;
  /** Every host's latest report, by host. */
  hosts: Record<string, HostReport>;
  /** Whether some host's count of the hosts still to finish has reached zero. */
  countedDown: boolean;
  /** The host that the release's broken mark names: the first to fail, whose report may arrive after others. */
  firstFailed?: string;
}

/**
 * The deploy's outcome once it is over, or undefined while it is not: the count of hosts
 * still to finish reached zero, every host that reported and every target has a final
 * state, and at least as many hosts reported as were expected. Agents report
 * asynchronously, so the host that counts down to zero can overtake another host's final
 * report still in flight: whichever arrives last ends the deploy.
 */
export function deployOutcome({ record, hosts, countedDown, firstFailed }: OutcomeInput): DeployOutcome | undefined {
  if (record.status !== 'in_progress' || !countedDown) return undefined;
  const reports = Object.values(hosts);
  if (!reports.every((report) => FINAL_HOST_STATES.has(report.state))) return undefined;
  const targetsEnded = (record.targets ?? []).every((target) => {
    const state = hosts[target]?.state;
    return state !== undefined && FINAL_HOST_STATES.has(state);
  });
  if (!targetsEnded || reports.length < (record.expectedHosts ?? 0)) return undefined;
  const { strategy } = record;
  // A blue/green deploy ends with its switch, which the strategy runner makes once every host started the new colour.
  if (strategy?.kind === 'blue-green' && strategy.phase !== 'done') return undefined;
  // A failed canary analysis or an abort: the held hosts stood down because of it, which their reports do not say.
  if (strategy?.ended) return { status: strategy.ended, reason: strategy.outcome ?? `ended by its ${strategy.kind} strategy` };

  const failed = inOrder(reports.filter((report) => report.state === 'failed'), firstFailed);
  if (failed[0]) {
    return { status: 'failed', reason: describe('failed', failed[0], failed.length, 'no error given', 'more hosts failed') };
  }
  const cancelled = inOrder(reports.filter((report) => report.state === 'cancelled'));
  if (cancelled[0]) {
    return { status: 'cancelled', reason: describe('stood down', cancelled[0], cancelled.length, 'no reason given', 'more hosts stood down') };
  }
  // Errored and lost hosts did not get the release, through no fault of it: partial, never failed.
  const errored = inOrder(reports.filter((report) => report.state === 'errored')).map((report) => `${report.host} (${report.error ?? 'no error given'})`);
  const lost = reports.filter((report) => report.state === 'lost').map((report) => report.host).sort();
  const partial = [...(errored.length > 0 ? [`hosts errored: ${errored.join(', ')}`] : []), ...(lost.length > 0 ? [`hosts lost: ${lost.join(', ')}`] : [])];
  if (partial.length > 0) return { status: 'partial', reason: partial.join('; ') };
  return { status: 'succeeded' };
}

/** `first` leads, then by host name: the outcome names one host, the same one every time. */
function inOrder(reports: HostReport[], first?: string): HostReport[] {
  return reports.sort((a, b) => Number(b.host === first) - Number(a.host === first) || a.host.localeCompare(b.host));
}

function describe(what: string, report: HostReport, count: number, missing: string, more: string): string {
  const reason = `host ${report.host} ${what}: ${report.error ?? missing}`;
  return count > 1 ? `${reason} (and ${count - 1} ${more})` : reason;
}
