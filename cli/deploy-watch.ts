// Follows a deploy until it ends, printing each host's steps as they happen.
import { FINAL_HOST_STATES, type Deploy } from '../shared/contract/schemas.js';
import { GrapevineError, TimeoutError } from '../shared/contract/errors.js';
import { pollUntil } from '../shared/contract/waiting.js';

export interface DeployReader {
  getDeploy(id: string): Promise<Deploy>;
}

const POLL_MS = 250;

export async function watchDeploy(
  client: DeployReader,
  id: string,
  print: (line: string) => void,
  timeoutMs: number,
): Promise<Deploy> {
  const seen = new Set<string>();
  const ended = async () => {
    const deploy = await client.getDeploy(id);
    for (const line of newProgressLines(deploy, seen)) print(line);
    return deploy.status === 'in_progress' ? undefined : deploy;
  };
  try {
    // A coordinator that stops answering ends the watch at once: its error says why.
    return await pollUntil(`deploy ${id} to end`, ended, { timeoutMs, intervalMs: POLL_MS, tolerate: () => false });
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    throw new GrapevineError('watch_timeout', `deploy ${id} still in progress after ${Math.round(timeoutMs / 1000)} s; follow it with: grapevine status ${id} --wait`);
  }
}

/** Lines for every host step and end state not printed yet, in time order. */
export function newProgressLines(deploy: Deploy, seen: Set<string>): string[] {
  const events: Array<{ at: number; key: string; line: string }> = [];
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
  events.sort((a, b) => a.at - b.at);
  const lines: string[] = [];
  for (const event of events) {
    if (seen.has(event.key)) continue;
    seen.add(event.key);
    lines.push(`${formatOffset(event.at - deploy.createdAt)} ${event.line}`);
  }
  return lines;
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
