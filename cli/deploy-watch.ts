// Follows a deploy until it ends, showing its progress through one view: plain lines in
// time order (pipes, CI logs), a live table on a terminal, or NDJSON events with --json.
import { FINAL_HOST_STATES, type Deploy } from '../shared/contract/schemas.js';
import type { DeploySummary } from '../shared/contract/deploy-views.js';
import { GrapevineError, TimeoutError } from '../shared/contract/errors.js';
import { PolledDeployFeed, type DeployFeed, type DeployReader } from './watch/deploy-feed.js';
import { HOLD_BACK_MS, HostEvents, type HostEvent } from './watch/host-events.js';

export type { DeployReader } from './watch/deploy-feed.js';

/** How a followed deploy is shown while it runs. */
export interface ProgressView {
  /** A record read while the deploy runs (it may not have changed since the last). */
  update(deploy: Deploy): void;
  /** The deploy ended: the view shows all of it and lets go of the terminal. */
  end(deploy: Deploy): void;
  /** Following stopped before the end (the coordinator did not answer, the wait timed out): the view lets go of the terminal. */
  abandon(): void;
}

/** Shows the deploy's records from `feed` in `view` until it ends; returns the ended record. */
export async function followDeploy(feed: DeployFeed, id: string, view: ProgressView, timeoutMs: number): Promise<Deploy> {
  let final: Deploy;
  try {
    final = await feed.follow(id, (deploy) => {
      if (deploy.status === 'in_progress') view.update(deploy);
    }, { timeoutMs });
  } catch (error) {
    view.abandon();
    if (!(error instanceof TimeoutError)) throw error;
    throw new GrapevineError('watch_timeout', `deploy ${id} still in progress after ${Math.round(timeoutMs / 1000)} s; follow it with: grapevine status ${id} --wait`);
  }
  view.end(final);
  return final;
}

/** Follows the deploy printing plain progress lines, as `--wait` does off a terminal. */
export function watchDeploy(client: DeployReader, id: string, print: (line: string) => void, timeoutMs: number, now: () => number = Date.now): Promise<Deploy> {
  return followDeploy(new PolledDeployFeed(client), id, new PlainProgress(print, now), timeoutMs);
}

/**
 * Past this many hosts, plain progress names only the hosts that failed, errored or were
 * lost, and prints the counts per state when they changed, every few seconds: an operator
 * cannot read 10 000 hosts' steps, and a CI log should not hold them.
 */
export const HOST_LINES_MAX = 100;
/** How often the counts line of a large deploy may be printed. */
const COUNTS_EVERY_MS = 5_000;
const TROUBLE: ReadonlySet<string> = new Set(['failed', 'errored', 'lost']);

/** One line per host step and end, in time order, each a little after it happened (HOLD_BACK_MS); a large deploy in counts. */
export class PlainProgress implements ProgressView {
  private readonly lines = new ProgressLines();
  private readonly troubleTold = new Set<string>();
  private lastCounts = '';
  private countsAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly print: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  update(deploy: Deploy): void {
    if (isLarge(deploy)) this.condensed(deploy, false);
    else for (const line of this.lines.take(deploy, this.now() - HOLD_BACK_MS)) this.print(line);
  }

  end(deploy: Deploy): void {
    if (isLarge(deploy)) this.condensed(deploy, true);
    else for (const line of this.lines.take(deploy, Number.POSITIVE_INFINITY)) this.print(line);
  }

  abandon(): void {}

  /** Each troubled host once, then the counts when they changed and the last counts line is old enough (or at the end). */
  private condensed(deploy: Deploy, ended: boolean): void {
    for (const report of Object.values(deploy.hosts)) {
      if (!TROUBLE.has(report.state) || this.troubleTold.has(report.host)) continue;
      this.troubleTold.add(report.host);
      const at = report.endedAt ?? report.steps[report.steps.length - 1]?.at ?? this.now();
      this.print(`${formatOffset(at - deploy.createdAt)} ${lineOf({ event: 'host.ended', deploy: deploy.id, host: report.host, state: report.state, at, ...(report.error === undefined ? {} : { error: report.error }) })}`);
    }
    const now = this.now();
    const counts = countsLine(deploy);
    if (counts === this.lastCounts || (!ended && now - this.countsAt < COUNTS_EVERY_MS)) return;
    this.lastCounts = counts;
    this.countsAt = now;
    this.print(`${formatOffset((ended ? (deploy.finishedAt ?? now) : now) - deploy.createdAt)} ${counts}`);
  }
}

/** How many hosts the deploy concerns: its targets, else those expected, else those that reported. */
export function hostCount(deploy: Deploy): number {
  return Math.max(deploy.targets?.length ?? 0, deploy.expectedHosts ?? 0, Object.keys(deploy.hosts).length);
}

function isLarge(deploy: Deploy): boolean {
  return hostCount(deploy) > HOST_LINES_MAX;
}

/** `hosts: 2301 succeeded, 3333 deploying, 4366 waiting (2301 of 10000 ended)`. */
function countsLine(deploy: Deploy): string {
  const counts = new Map<string, number>();
  let ended = 0;
  for (const report of Object.values(deploy.hosts)) {
    counts.set(report.state, (counts.get(report.state) ?? 0) + 1);
    if (FINAL_HOST_STATES.has(report.state)) ended++;
  }
  const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `${n} ${state}`);
  const total = hostCount(deploy);
  const unheard = total - Object.keys(deploy.hosts).length;
  if (unheard > 0) parts.push(`${unheard} not heard from`);
  return `hosts: ${parts.join(', ') || 'none reported'} (${ended} of ${total} ended)`;
}

/** The progress lines of one deploy, each printed once, in time order. */
export class ProgressLines {
  private readonly events = new HostEvents();

  /** Lines not printed yet whose time is at or before `until` (ms since the epoch), in time order. */
  take(deploy: Deploy, until: number): string[] {
    return this.events.take(deploy, until).map((event) => `${formatOffset(event.at - deploy.createdAt)} ${lineOf(event)}`);
  }
}

function lineOf(event: HostEvent): string {
  const host = event.host.padEnd(12);
  if (event.event === 'host.step') return `${host} ${event.step}${event.slot === undefined ? '' : ` ${event.slot}`}`;
  return `${host} ${event.state.toUpperCase()}${event.error ? `: ${event.error}` : ''}`;
}

function formatOffset(ms: number): string {
  return `+${(Math.max(0, ms) / 1000).toFixed(2)}s`.padStart(8);
}

/** One line: a summary's counts as the coordinator keeps them, or a whole deploy's counted from its reports. */
export function summarize(deploy: Deploy | DeploySummary): string {
  const took = deploy.finishedAt ? ` in ${((deploy.finishedAt - deploy.createdAt) / 1000).toFixed(2)} s` : '';
  const counts = new Map<string, number>();
  if ('counts' in deploy) for (const [state, n] of Object.entries(deploy.counts)) counts.set(state, n);
  else for (const host of Object.values(deploy.hosts)) counts.set(host.state, (counts.get(host.state) ?? 0) + 1);
  const parts = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  const why = deploy.reason ? ` (${deploy.reason})` : '';
  return `deploy ${deploy.id} of ${deploy.role}:${deploy.tag} to ${deploy.env} ${deploy.status}${took}: ${parts || 'no hosts reported'}${why}`;
}
