// A deploy's page (`/ui/deploys/:id`, the path notifications link to): its outcome and
// reason, one lane per host with its steps over time, the waves (hosts that held slots
// together), waiting versus working time per host and in all (shared/contract/deploy-analysis.ts,
// the same numbers as the CLI's summary), and the actions the signed-in credential may take.
// The live part is fetched again (`/ui/deploys/:id/live`) on each of the deploy's events.
import { analyzeDeploy, byHostName, type DeployAnalysis, type HostTiming, type TimedStep } from '../../shared/contract/deploy-analysis.js';
import type { Deploy, HostReport, HostStep, Release } from '../../shared/contract/schemas.js';
import type { Scope } from '../../shared/ports/credentials.js';
import { scopeAllows } from '../auth/scopes.js';
import { html, type Markup } from './html.js';
import { deployStatusLabel, durationText, hostStateLabel, timeLabel } from './labels.js';
import { CSRF_FIELD } from './session.js';
import { strategySection } from './strategy-section.js';
import { HOSTS_PER_PAGE, type HostsShown } from './deploy-read.js';

/** Width of a lane's drawing in SVG units; the browser stretches it to the lane. */
const LANE_UNITS = 1000;
/** A step shorter than this still shows as a sliver. */
const MIN_SEGMENT_UNITS = 2;

/** How each step is drawn: its colour class and what the legend calls it. */
const SEGMENTS: Array<{ className: string; label: string; steps: HostStep[] }> = [
  { className: 'seg-wait', label: 'waiting (received, waiting for a slot)', steps: ['received', 'waiting'] },
  { className: 'seg-job', label: 'once-per-deploy job', steps: ['job'] },
  { className: 'seg-drain', label: 'slot taken, draining', steps: ['slot', 'before-drain', 'drain'] },
  { className: 'seg-pull', label: 'pulling the image', steps: ['pull'] },
  { className: 'seg-up', label: 'starting (compose up)', steps: ['up'] },
  { className: 'seg-health', label: 'health check', steps: ['health', 'after-up'] },
  { className: 'seg-register', label: 'registering, releasing the slot', steps: ['register', 'after-register', 'release'] },
];
const SEGMENT_OF = new Map(SEGMENTS.flatMap(({ className, steps }) => steps.map((step) => [step, className] as const)));

/** The live part of a page of hosts keeps to that page. */
export const deployLivePath = (id: string, cursor?: string) => `/ui/deploys/${id}/live${cursor === undefined ? '' : `?hosts=${encodeURIComponent(cursor)}`}`;
/** A page of many hosts waits longer between refreshes: its events never stop coming. */
const MANY_HOSTS_GAP_MS = 2_000;

export interface DeployPageView {
  deploy: Deploy;
  /** The deploy's release as stored now (its broken mark); undefined when it is gone. */
  release: Release | undefined;
  now: number;
  scope: Scope;
  actor: string;
  csrf: string;
  /** A result to show above the actions: an action's success, or the API's refusal. */
  notice?: { kind: 'ok' | 'error'; text: string };
  /** The reason typed into the form, kept when the action was refused. */
  reason?: string;
  /** Which page of hosts `deploy.hosts` holds, and the counts over all of them. */
  hosts?: HostsShown;
}

export function deployMain(view: DeployPageView): Markup {
  const { deploy } = view;
  return html`<h1>Deploy <span class="mono">${deploy.id}</span></h1>
<p class="hint"><span class="mono">${deploy.role}:${deploy.tag}</span> to ${deploy.env}${deploy.cluster === undefined ? '' : html`, cluster <strong>${deploy.cluster}</strong>`}</p>
<p id="live-status" class="live-status" data-live="off">Live updates need JavaScript; reload the page to see changes.</p>
<div id="deploy-live" data-live-url="${deployLivePath(deploy.id, view.hosts?.cursor)}"${view.hosts !== undefined && Math.max(view.hosts.targetCount, view.hosts.reported) > HOSTS_PER_PAGE && html` data-live-gap-ms="${MANY_HOSTS_GAP_MS}"`}>
${deployLive(deploy, view.release, view.now, view.hosts)}
</div>
${actions(view)}`;
}

export function deployLive(deploy: Deploy, release: Release | undefined, now: number, hosts?: HostsShown): Markup {
  const end = deploy.finishedAt ?? now;
  const analysis = analyzeDeploy(deploy, end);
  return html`${summary(deploy, release, analysis, now, hosts)}
${strategySection(deploy)}
${pageOfHosts(deploy, hosts)}
${timeline(deploy, analysis)}
${waves(analysis)}
${hostsTable(deploy, analysis)}`;
}

/** On a deploy of more hosts than a page: which hosts are shown, and the link to the next ones. */
function pageOfHosts(deploy: Deploy, hosts: HostsShown | undefined): Markup | undefined {
  if (hosts === undefined || (hosts.next === undefined && hosts.cursor === undefined)) return undefined;
  const shown = Object.keys(deploy.hosts).length;
  return html`<p class="hint" data-host-page>Showing ${shown} of the ${hosts.reported} hosts that reported (the times and waves below are of these).
${hosts.cursor !== undefined && html`<a href="/ui/deploys/${deploy.id}">first hosts</a>`}
${hosts.next !== undefined && html`<a href="/ui/deploys/${deploy.id}?hosts=${encodeURIComponent(hosts.next)}" data-more-hosts>more hosts</a>`}</p>`;
}

/** `3 succeeded, 2 deploying, 1 waiting`, over every host of the deploy. */
function countsText(hosts: HostsShown): string {
  const parts = Object.entries(hosts.counts).map(([state, n]) => `${n} ${state}`);
  const unheard = hosts.targetCount - hosts.reported;
  if (unheard > 0) parts.push(`${unheard} not heard from`);
  return parts.join(', ') || 'none reported yet';
}

function summary(deploy: Deploy, release: Release | undefined, analysis: DeployAnalysis, now: number, hosts?: HostsShown): Markup {
  const targeted = hosts?.targetCount ?? deploy.targets?.length ?? 0;
  return html`<section aria-labelledby="outcome-heading">
<h2 id="outcome-heading">Outcome</h2>
<dl class="facts">
<dt>Status</dt><dd data-deploy-status="${deploy.status}">${deployStatusLabel(deploy.status)}</dd>
${deploy.reason !== undefined && html`<dt>Reason</dt><dd class="error-text" data-reason>${deploy.reason}</dd>`}
<dt>Release</dt><dd><span class="mono">${deploy.role}:${deploy.tag}</span>${releaseMark(release)}</dd>
<dt>Started by</dt><dd>${deploy.startedBy ?? html`<span class="hint">not recorded</span>`}</dd>
<dt>Started</dt><dd>${timeLabel(deploy.createdAt)}</dd>
${
  deploy.finishedAt === undefined
    ? html`<dt>Running for</dt><dd>${durationText(Math.max(0, now - deploy.createdAt))}</dd>`
    : html`<dt>Finished</dt><dd>${timeLabel(deploy.finishedAt)}, after ${durationText(deploy.finishedAt - deploy.createdAt)}</dd>`
}
<dt>Hosts</dt><dd>${targeted} targeted${deploy.slots !== undefined && html`, at most ${deploy.slots} at once`}${hosts !== undefined && html`: <span data-host-counts>${countsText(hosts)}</span>`}</dd>
<dt>Time</dt><dd>waiting ${durationText(analysis.waitingMs)}, working ${durationText(analysis.workingMs)} (summed over hosts)${analysis.slowestStep && html`; slowest step: ${analysis.slowestStep.step} on ${analysis.slowestStep.host}, ${durationText(analysis.slowestStep.ms)}`}</dd>
${related(deploy)}
</dl>
</section>`;
}

function releaseMark(release: Release | undefined): Markup | undefined {
  if (release?.broken === undefined) return undefined;
  const { reason, by, at } = release.broken;
  return html` — <span class="broken" data-broken="true"><span aria-hidden="true">✗</span> marked broken</span> by ${by}, ${timeLabel(at)}: <span class="error-text">${reason}</span>`;
}

function related(deploy: Deploy): Markup {
  const link = (id: string) => html`<a class="mono" href="/ui/deploys/${id}">${id}</a>`;
  return html`${deploy.rollbackOf !== undefined && html`<dt>Rollback</dt><dd>of <span class="mono">${deploy.rollbackOf}</span></dd>`}
${deploy.promotedFrom !== undefined && html`<dt>Promoted from</dt><dd>${link(deploy.promotedFrom)}</dd>`}
${deploy.promotedTo !== undefined && html`<dt>Promoted to</dt><dd>${link(deploy.promotedTo)}</dd>`}
${deploy.promotion !== undefined && html`<dt>Promotion</dt><dd class="error-text">failed: ${deploy.promotion.error}</dd>`}
${deploy.catchUpOf !== undefined && html`<dt>Catch-up of</dt><dd>${link(deploy.catchUpOf)}</dd>`}
${deploy.job !== undefined && html`<dt>Job</dt><dd>${deploy.job.service} on ${deploy.job.host}: ${deploy.job.state}${deploy.job.error !== undefined && html` — <span class="error-text">${deploy.job.error}</span>`}</dd>`}`;
}

/** Targets that have not reported yet get an empty lane, so the page shows every host from the start. */
function lanesOf(deploy: Deploy, analysis: DeployAnalysis): Array<{ host: string; timing?: HostTiming; report?: HostReport }> {
  const names = new Set([...(deploy.targets ?? []), ...Object.keys(deploy.hosts)]);
  const timings = new Map(analysis.hosts.map((timing) => [timing.host, timing]));
  return [...names].sort(byHostName).map((host) => ({
    host,
    ...(timings.has(host) ? { timing: timings.get(host)! } : {}),
    ...(deploy.hosts[host] ? { report: deploy.hosts[host] } : {}),
  }));
}

function timeline(deploy: Deploy, analysis: DeployAnalysis): Markup {
  // Hosts' own clocks, never mixed with the coordinator's: the lanes start at the first step any host took.
  const { start, span } = timeSpan(analysis);
  const x = (at: number) => ((at - start) / span) * LANE_UNITS;
  return html`<section aria-labelledby="timeline-heading">
<h2 id="timeline-heading">Hosts over time</h2>
<ul class="legend" aria-label="Legend">${SEGMENTS.map(({ className, label }) => html`<li><span class="swatch ${className}" aria-hidden="true"></span>${label}</li>`)}<li><span class="mono" aria-hidden="true">- - -</span> slot held</li></ul>
<div class="timeline">
${lanesOf(deploy, analysis).map(({ host, timing, report }) => lane(host, timing, report, x))}
<div class="axis" aria-hidden="true"><span></span><span><span>+0 s</span><span>+${durationText(span)}</span></span><span></span></div>
</div>
</section>`;
}

/** From the first step any host took to the last end (`now` for a host still going). */
function timeSpan(analysis: DeployAnalysis): { start: number; span: number } {
  const starts = analysis.hosts.map((h) => h.startedAt).filter((at): at is number => at !== undefined);
  const ends = analysis.hosts.map((h) => h.endedAt).filter((at): at is number => at !== undefined);
  const start = starts.length === 0 ? 0 : Math.min(...starts);
  return { start, span: Math.max((ends.length === 0 ? start : Math.max(...ends)) - start, 1) };
}

function lane(host: string, timing: HostTiming | undefined, report: HostReport | undefined, x: (at: number) => number): Markup {
  const last = timing?.steps.at(-1);
  const state = report?.state ?? 'pending';
  const description = timing === undefined ? `${host}: not reported yet` : `${host}: ${state}, waited ${durationText(timing.waitingMs)}, worked ${durationText(timing.workingMs)}`;
  return html`<div class="lane" data-host="${host}" data-state="${state}" data-step="${last?.step ?? ''}">
<span class="lane-name">${host}<small>${laneDetail(timing, report)}</small></span>
<svg viewBox="0 0 ${LANE_UNITS} 20" preserveAspectRatio="none" role="img" aria-label="${description}">
${timing?.steps.map((step) => segment(host, step, timing, x))}
${timing?.slotAt !== undefined && timing.freedAt !== undefined && html`<rect class="wave-band" x="${x(timing.slotAt).toFixed(1)}" y="1" width="${Math.max(x(timing.freedAt) - x(timing.slotAt), MIN_SEGMENT_UNITS).toFixed(1)}" height="18"></rect>`}
</svg>
<span class="lane-state">${hostStateLabel(state)}${last && html` <small class="hint">${last.step}</small>`}</span>
</div>`;
}

function laneDetail(timing: HostTiming | undefined, report: HostReport | undefined): string {
  const parts: string[] = [];
  if (timing?.wave !== undefined) parts.push(`wave ${timing.wave}`);
  if (report?.slot !== undefined) parts.push(`slot ${report.slot}`);
  return parts.join(' · ');
}

function segment(host: string, step: TimedStep, timing: HostTiming, x: (at: number) => number): Markup {
  const from = x(step.at);
  const width = Math.max(x(step.at + step.ms) - from, MIN_SEGMENT_UNITS);
  const offset = timing.startedAt === undefined ? 0 : step.at - timing.startedAt;
  return html`<rect class="${SEGMENT_OF.get(step.step) ?? 'seg-register'}" x="${from.toFixed(1)}" y="3" width="${width.toFixed(1)}" height="14" data-step="${step.step}"><title>${host} ${step.step}: ${durationText(step.ms)}, from +${durationText(offset)}</title></rect>`;
}

function waves(analysis: DeployAnalysis): Markup {
  const { start } = timeSpan(analysis);
  return html`<section aria-labelledby="waves-heading">
<h2 id="waves-heading">Waves</h2>
${
  analysis.waves.length === 0
    ? html`<p class="hint">No host has held a slot yet.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Wave</th><th scope="col">Hosts that held slots together</th><th scope="col">From</th><th scope="col" class="num">Lasted</th></tr></thead>
<tbody>${analysis.waves.map(
        (wave) => html`<tr data-wave="${wave.number}"><th scope="row">${wave.number}</th><td>${wave.hosts.join(', ')}</td><td>+${durationText(Math.max(0, wave.startedAt - start))}</td><td class="num">${durationText(wave.durationMs)}</td></tr>`,
      )}</tbody>
</table></div>`
}
</section>`;
}

function hostsTable(deploy: Deploy, analysis: DeployAnalysis): Markup {
  return html`<section aria-labelledby="hosts-heading">
<h2 id="hosts-heading">Hosts</h2>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Host</th><th scope="col">State</th><th scope="col">Last step</th><th scope="col" class="num">Wave</th><th scope="col" class="num">Slot</th><th scope="col" class="num">Waiting</th><th scope="col" class="num">Working</th><th scope="col">Error</th></tr></thead>
<tbody>${lanesOf(deploy, analysis).map(({ host, timing, report }) => {
    const last = timing?.steps.at(-1);
    return html`<tr data-host-row="${host}">
<th scope="row">${host}</th>
<td>${hostStateLabel(report?.state ?? 'pending')}</td>
<td>${last === undefined ? '—' : html`${last.step} <small class="hint">${timeLabel(last.at)}</small>`}</td>
<td class="num">${timing?.wave ?? '—'}</td>
<td class="num">${report?.slot ?? '—'}</td>
<td class="num">${timing === undefined ? '—' : durationText(timing.waitingMs)}</td>
<td class="num">${timing === undefined ? '—' : durationText(timing.workingMs)}</td>
<td>${report?.error === undefined ? '' : html`<span class="error-text">${report.error}</span>`}</td>
</tr>`;
  })}</tbody>
<tfoot><tr><th scope="row">All hosts</th><td colspan="4"></td><td class="num">${durationText(analysis.waitingMs)}</td><td class="num">${durationText(analysis.workingMs)}</td><td></td></tr></tfoot>
</table></div>
</section>`;
}

function actions(view: DeployPageView): Markup {
  const { deploy, release, scope, actor, csrf, notice } = view;
  const canMark = scopeAllows(scope, ['operator']);
  const canRollBack = scopeAllows(scope, ['deployer']);
  const csrfField = html`<input type="hidden" name="${CSRF_FIELD}" value="${csrf}">`;
  const releaseName = `${deploy.role}:${deploy.tag}`;
  const markBroken = !canMark
    ? html`<p data-refused="mark-broken">Marking a release broken needs the operator scope; you are signed in as ${actor}.</p>`
    : release?.broken !== undefined
      ? html`<p><span class="mono">${releaseName}</span> is marked broken already.</p>`
      : html`<form method="post" action="/ui/deploys/${deploy.id}/mark-broken">
<p class="hint">Hosts still waiting for a slot stand down; the tag can never be deployed again.</p>
<label for="broken-reason">Reason (kept with the mark, shown to everyone)</label>
<input type="text" id="broken-reason" name="reason" required maxlength="2000" autocomplete="off" value="${view.reason ?? ''}">
${csrfField}
<p><button type="submit" class="danger">Mark ${releaseName} broken</button></p>
</form>`;
  const rollBack = !canRollBack
    ? html`<p data-refused="rollback">Rolling back needs the deployer scope; you are signed in as ${actor}.</p>`
    : html`<form method="post" action="/ui/deploys/${deploy.id}/rollback">
<p class="hint">Deploys ${deploy.role} in ${deploy.env} again with the release that last succeeded before its current one.</p>
${csrfField}
<p><button type="submit" class="primary">Roll back ${deploy.role} in ${deploy.env}</button></p>
</form>`;
  return html`<section aria-labelledby="actions-heading">
<h2 id="actions-heading">Actions</h2>
${notice && html`<p class="notice ${notice.kind}" role="${notice.kind === 'error' ? 'alert' : 'status'}">${notice.text}</p>`}
<div class="actions">
<div class="action"><h3>Mark the release broken</h3>${markBroken}</div>
<div class="action"><h3>Roll back</h3>${rollBack}</div>
</div>
</section>`;
}
