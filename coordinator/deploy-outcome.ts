// When a deploy ends and what its outcome says: the rules the coordinator applies after
// every report, kept apart from the store so they read (and are tested) on their own.
// Whether it is over comes from the deploy's counts (constant size, kept as reports
// arrive); what the outcome names comes from the few reports that did not succeed, read
// once, when the counts say the deploy is over.
import { FINAL_HOST_STATES, HOST_STATES, type HostReport, type HostState } from '../shared/contract/schemas.js';
import type { DeployRecord, DeployTally, FinalDeployStatus } from '../shared/ports/deploy-store.js';

export interface DeployOutcome {
  status: FinalDeployStatus;
  reason?: string;
}

export interface OverInput {
  record: DeployRecord;
  tally: DeployTally;
  /** Whether some host's count of the hosts still to finish has reached zero. */
  countedDown: boolean;
}

export interface OutcomeInput extends OverInput {
  /** The latest reports of the hosts that failed, errored, stood down or were lost (read only once the deploy is over). */
  unsuccessful: HostReport[];
  /** The host that the release's broken mark names: the first to fail, whose report may arrive after others. */
  firstFailed?: string;
}

/** The states whose hosts an outcome names: the reports to read once a deploy is over. */
export const UNSUCCESSFUL_STATES: ReadonlySet<HostState> = new Set(['failed', 'errored', 'cancelled', 'lost']);

/**
 * Whether the deploy is over: the count of hosts still to finish reached zero, every host
 * that reported and every target has a final state, and at least as many hosts reported as
 * were expected. Agents report asynchronously, so the host that counts down to zero can
 * overtake another host's final report still in flight: whichever arrives last ends the deploy.
 */
export function deployIsOver({ record, tally, countedDown }: OverInput): boolean {
  if (record.status !== 'in_progress' || !countedDown) return false;
  const unfinished = HOST_STATES.filter((state) => !FINAL_HOST_STATES.has(state)).reduce((sum, state) => sum + (tally.counts[state] ?? 0), 0);
  if (unfinished > 0 || tally.targetsEnded < tally.targets || tally.reported < (tally.expectedHosts ?? 0)) return false;
  // A blue/green deploy ends with its switch, which the strategy runner makes once every host started the new colour.
  return !(record.strategy?.kind === 'blue-green' && record.strategy.phase !== 'done');
}

/** Whether the outcome names hosts, so their reports must be read first. */
export function namesHosts(tally: DeployTally): boolean {
  return [...UNSUCCESSFUL_STATES].some((state) => (tally.counts[state] ?? 0) > 0);
}

/** The deploy's outcome once it is over (deployIsOver), or undefined while it is not. */
export function deployOutcome(input: OutcomeInput): DeployOutcome | undefined {
  if (!deployIsOver(input)) return undefined;
  const { record, unsuccessful, firstFailed } = input;
  const { strategy } = record;
  // A failed canary analysis or an abort: the held hosts stood down because of it, which their reports do not say.
  if (strategy?.ended) return { status: strategy.ended, reason: strategy.outcome ?? `ended by its ${strategy.kind} strategy` };

  const reports = [...unsuccessful];
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
