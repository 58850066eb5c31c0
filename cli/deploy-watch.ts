// Follows a deploy until it ends, printing each host's steps as they happen, in the order
// they happened.
import { FINAL_HOST_STATES, type Deploy } from '../shared/contract/schemas.js';
import { GrapevineError, TimeoutError } from '../shared/contract/errors.js';
import { pollUntil } from '../shared/contract/waiting.js';

export interface DeployReader {
  getDeploy(id: string): Promise<Deploy>;
}

const POLL_MS = 250;
/**
 * Hosts report on their own, so a step can reach the coordinator after a later step of
 * another host was printed. A line waits this long after its time before it is printed,
 * and lines print in time order; the rest come out sorted when the deploy ends.
 */
const HOLD_BACK_MS = 1_000;

export async function watchDeploy(
  client: DeployReader,
  id: string,
  print: (line: string) => void,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<Deploy> {
  const lines = new ProgressLines();
  const ended = async () => {
    const deploy = await client.getDeploy(id);
    const over = deploy.status !== 'in_progress';
    for (const line of lines.take(deploy, over ? Number.POSITIVE_INFINITY : now() - HOLD_BACK_MS)) print(line);
    return over ? deploy : undefined;
  };
  try {
    // A coordinator that stops answering ends the watch at once: its error says why.
    return await pollUntil(`deploy ${id} to end`, ended, { timeoutMs, intervalMs: POLL_MS, tolerate: () => false });
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    throw new GrapevineError('watch_timeout', `deploy ${id} still in progress after ${Math.round(timeoutMs / 1000)} s; follow it with: grapevine status ${id} --wait`);
  }
}

interface ProgressEvent {
  at: number;
  key: string;
  line: string;
}

/** The progress lines of one deploy, each printed once, in time order. */
export class ProgressLines {
  private readonly printed = new Set<string>();

  /** Lines not printed yet whose time is at or before `until` (ms since the epoch), in time order. */
  take(deploy: Deploy, until: number): string[] {
    return eventsOf(deploy)
      .filter((event) => event.at <= until && !this.printed.has(event.key))
      .sort((a, b) => a.at - b.at)
      .map((event) => {
        this.printed.add(event.key);
        return `${formatOffset(event.at - deploy.createdAt)} ${event.line}`;
      });
  }
}

/** Every host step and end state of the deploy, each with its time. */
function eventsOf(deploy: Deploy): ProgressEvent[] {
  const events: ProgressEvent[] = [];
  for (const report of Object.values(deploy.hosts)) {
    for (const { step, at } of report.steps) {
      const detail = step === 'slot' && report.slot !== undefined ? ` ${report.slot}` : '';
      events.push({ at, key: `${report.host}:${step}`, line: `${report.host.padEnd(12)} ${step}${detail}` });
    }
    if (FINAL_HOST_STATES.has(report.state)) {
      const at = report.endedAt ?? report.steps[report.steps.length - 1]?.at ?? deploy.createdAt;
      const why = report.error ? `: ${report.error}` : '';
      events.push({ at: at + 0.5, key: `${report.host}:=${report.state}`, line: `${report.host.padEnd(12)} ${report.state.toUpperCase()}${why}` });
    }
  }
  return events;
}

function formatOffset(ms: number): string {
  return `+${(Math.max(0, ms) / 1000).toFixed(2)}s`.padStart(8);
}

export function summarize(deploy: Deploy): string {
  const hosts = Object.values(deploy.hosts);
  const took = deploy.finishedAt ? ` in ${((deploy.finishedAt - deploy.createdAt) / 1000).toFixed(2)} s` : '';
  const counts = new Map<string, number>();
  for (const host of hosts) counts.set(host.state, (counts.get(host.state) ?? 0) + 1);
  const parts = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  const why = deploy.reason ? ` (${deploy.reason})` : '';
  return `deploy ${deploy.id} of ${deploy.role}:${deploy.tag} to ${deploy.env} ${deploy.status}${took}: ${parts || 'no hosts reported'}${why}`;
}
