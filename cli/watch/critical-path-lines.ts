// The summary `--wait` prints once a deploy ended, above its one-line outcome: which hosts
// formed each wave and how long each took, each host's waiting versus working time, and
// the slowest step: where the deploy's time went, from shared/contract/deploy-analysis.ts.
import { analyzeDeploy } from '../../shared/contract/deploy-analysis.js';
import type { Deploy } from '../../shared/contract/schemas.js';

/** A wave of many hosts names this many and counts the rest; the per-host lines name them all. */
const WAVE_NAMES_SHOWN = 10;
/** Up to this many hosts, a time row each; past it, the slowest this many and the rest counted. */
const HOST_ROWS_MAX = 100;
const SLOWEST_SHOWN = 20;

export function criticalPathLines(deploy: Deploy): string[] {
  const analysis = analyzeDeploy(deploy, deploy.finishedAt ?? Date.now());
  if (analysis.hosts.length === 0) return [];
  const slots = deploy.slots === undefined ? '' : ` (k=${deploy.slots} of ${deploy.targets?.length ?? deploy.expectedHosts ?? analysis.hosts.length} hosts)`;
  const lines = [analysis.waves.length === 0 ? 'waves: none (no host took a slot)' : `waves: ${analysis.waves.length}${slots}`];
  for (const wave of analysis.waves) {
    const names = wave.hosts.slice(0, WAVE_NAMES_SHOWN).join(', ');
    const more = wave.hosts.length > WAVE_NAMES_SHOWN ? ` and ${wave.hosts.length - WAVE_NAMES_SHOWN} more` : '';
    lines.push(`  wave ${String(wave.number).padEnd(3)} ${seconds(wave.durationMs).padStart(9)}  ${names}${more}`);
  }
  const hostWidth = Math.max(5, ...analysis.hosts.map((h) => h.host.length));
  const row = (name: string, wave: string, waiting: string, working: string) =>
    `  ${name.padEnd(hostWidth)} ${wave.padStart(4)} ${waiting.padStart(9)} ${working.padStart(9)}`;
  lines.push(`time per host (waiting: before its slot; working: with it)`);
  lines.push(row('host', 'wave', 'waiting', 'working'));
  const many = analysis.hosts.length > HOST_ROWS_MAX;
  const shown = many ? [...analysis.hosts].sort((a, b) => b.waitingMs + b.workingMs - (a.waitingMs + a.workingMs)).slice(0, SLOWEST_SHOWN) : analysis.hosts;
  if (many) lines.push(`  (the ${SLOWEST_SHOWN} slowest of ${analysis.hosts.length} hosts; every host: grapevine status ${deploy.id} --json)`);
  for (const host of shown) lines.push(row(host.host, host.wave === undefined ? '-' : String(host.wave), seconds(host.waitingMs), seconds(host.workingMs)));
  lines.push(row('total', '', seconds(analysis.waitingMs), seconds(analysis.workingMs)));
  const slowest = analysis.slowestStep;
  lines.push(slowest === undefined ? 'slowest step: none (no host took a slot)' : `slowest step: ${slowest.step} on ${slowest.host}, ${seconds(slowest.ms)}`);
  return lines;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
