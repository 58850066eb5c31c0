// The overview page (`/ui`): every group with its hosts, what each runs and how it is, recent
// deploys, and each role's releases with their broken marks. Its body is also the live part
// the script fetches again (`/ui/live/overview`) when the fleet's events say something changed.
import type { Release } from '../../shared/contract/schemas.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';
import { html, type Markup } from './html.js';
import { deployStatusLabel, durationText, timeLabel } from './labels.js';
import type { FleetOverview, GroupView, HostView } from './fleet-overview.js';

export const OVERVIEW_LIVE_PATH = '/ui/live/overview';
/** The overview asks Serf and Redis for a whole page: at most once every 2 s, however many events come. */
const OVERVIEW_REFRESH_GAP_MS = 2_000;

export function overviewMain(overview: FleetOverview, now: number): Markup {
  return html`<h1>Fleet</h1>
<p id="live-status" class="live-status" data-live="off">Live updates need JavaScript; reload the page to see changes.</p>
<div id="overview" data-live-url="${OVERVIEW_LIVE_PATH}" data-live-gap-ms="${OVERVIEW_REFRESH_GAP_MS}">
${overviewLive(overview, now)}
</div>`;
}

export function overviewLive(overview: FleetOverview, now: number): Markup {
  return html`${overview.serfError !== undefined && html`<p class="notice error" role="alert">Serf's member list could not be read, so hosts are missing below: ${overview.serfError}</p>`}
<section aria-labelledby="groups-heading">
<h2 id="groups-heading">Roles and environments</h2>
${overview.groups.length === 0 ? html`<p>No hosts have joined and nothing was deployed yet.</p>` : html`<div class="groups">${overview.groups.map((group) => groupSection(group, brokenTags(overview, group.role)))}</div>`}
${overview.groupsLeftOut > 0 && html`<p class="hint">${overview.groupsLeftOut} more groups are not shown.</p>`}
</section>
<section aria-labelledby="deploys-heading">
<h2 id="deploys-heading">Recent deploys</h2>
${deploysTable(overview.deploys, now)}
</section>
<section aria-labelledby="releases-heading">
<h2 id="releases-heading">Releases</h2>
${overview.releases.length === 0 ? html`<p>No releases.</p>` : overview.releases.map(({ role, releases }) => releasesTable(role, releases))}
</section>`;
}

/** The role's tags marked broken, among the releases the page lists. */
function brokenTags(overview: FleetOverview, role: string): ReadonlySet<string> {
  const releases = overview.releases.find((listed) => listed.role === role)?.releases ?? [];
  return new Set(releases.filter((release) => release.broken !== undefined).map((release) => release.tag));
}

const brokenMark = html` <span class="broken"><span aria-hidden="true">✗</span> broken</span>`;

function groupSection(group: GroupView, broken: ReadonlySet<string>): Markup {
  const id = `group-${group.role}-${group.env}`;
  return html`<section class="group" aria-labelledby="${id}" data-group="${group.role}/${group.env}">
<h3 id="${id}">${group.role} in ${group.env}</h3>
${group.frozen && html`<p class="frozen" data-frozen="true"><strong>❄ Frozen</strong> by ${group.frozen.by}, ${group.frozen.until === undefined ? 'until unfrozen' : html`until <time datetime="${new Date(group.frozen.until).toISOString()}">${new Date(group.frozen.until).toISOString()}</time>`}: ${group.frozen.reason}. Waiting hosts take no slot; new deploys are refused unless forced.</p>`}
<p>Desired tag: ${group.desiredTag === undefined ? html`<em>none yet</em>` : html`<strong class="mono">${group.desiredTag}</strong>${broken.has(group.desiredTag) && brokenMark}`}</p>
${
  group.hosts.length === 0
    ? html`<p class="hint">No host of this group is in Serf's member list.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Host</th><th scope="col">Health</th><th scope="col">Runs</th></tr></thead>
<tbody>${group.hosts.map((host) => hostRow(host, group.desiredTag, broken))}</tbody>
</table></div>`
}
${group.outOfServiceUnlisted.length > 0 && html`<p class="hint">Counted out of service but not in Serf's list: ${group.outOfServiceUnlisted.join(', ')}</p>`}
</section>`;
}

function hostRow(host: HostView, desired: string | undefined, broken: ReadonlySet<string>): Markup {
  const behind = host.running !== undefined && desired !== undefined && host.running.tag !== desired;
  return html`<tr data-host="${host.name}">
<th scope="row">${host.name} <small class="hint mono">${host.addr}</small></th>
<td>${healthLabel(host.serf)}${host.outOfService && html`<br><span class="state health-out"><span aria-hidden="true">⚠</span> out of service</span>`}</td>
<td>${
    host.running === undefined
      ? html`<span class="hint" title="no succeeded deploy of this host on record">unknown</span>`
      : html`<a class="mono" href="/ui/deploys/${host.running.deployId}">${host.running.tag}</a>${broken.has(host.running.tag) && brokenMark}${behind && html` <span class="state health-out"><span aria-hidden="true">≠</span> not the desired tag</span>`}`
  }</td>
</tr>`;
}

const HEALTH_SYMBOLS: Record<string, string> = { alive: '✓', failed: '✗', leaving: '…', left: '–' };

function healthLabel(serf: string): Markup {
  const known = serf in HEALTH_SYMBOLS;
  return html`<span class="state health-${known ? serf : 'unknown'}"><span aria-hidden="true">${HEALTH_SYMBOLS[serf] ?? '?'}</span> ${serf}</span>`;
}

export function deploysTable(deploys: readonly DeployRecord[], now: number): Markup {
  if (deploys.length === 0) return html`<p>No deploys yet.</p>`;
  return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Deploy</th><th scope="col">Role</th><th scope="col">Environment</th><th scope="col">Tag</th><th scope="col">Status</th><th scope="col">Started by</th><th scope="col">Started</th><th scope="col" class="num">Duration</th></tr></thead>
<tbody>${deploys.map(
    (deploy) => html`<tr data-deploy="${deploy.id}">
<td><a class="mono" href="/ui/deploys/${deploy.id}">${deploy.id}</a>${deployKind(deploy)}</td>
<td>${deploy.role}</td><td>${deploy.env}</td><td class="mono">${deploy.tag}</td>
<td>${deployStatusLabel(deploy.status)}</td>
<td>${deploy.startedBy ?? html`<span class="hint">not recorded</span>`}</td>
<td>${timeLabel(deploy.createdAt)}</td>
<td class="num">${deploy.finishedAt === undefined ? `running ${durationText(Math.max(0, now - deploy.createdAt))}` : durationText(deploy.finishedAt - deploy.createdAt)}</td>
</tr>`,
  )}</tbody>
</table></div>`;
}

function deployKind(deploy: DeployRecord): Markup | undefined {
  if (deploy.rollbackOf !== undefined) return html`<br><small class="hint">rollback of ${deploy.rollbackOf}</small>`;
  if (deploy.promotedFrom !== undefined) return html`<br><small class="hint">promotion</small>`;
  if (deploy.catchUpOf !== undefined) return html`<br><small class="hint">catch-up</small>`;
  return undefined;
}

function releasesTable(role: string, releases: readonly Release[]): Markup {
  return html`<h3>${role}</h3>
${
  releases.length === 0
    ? html`<p>No releases.</p>`
    : html`<div class="table-wrap"><table data-releases="${role}">
<thead><tr><th scope="col">Tag</th><th scope="col">Published</th><th scope="col">Image</th><th scope="col">Mark</th></tr></thead>
<tbody>${releases.map(
        (release) => html`<tr data-release="${release.tag}">
<th scope="row" class="mono">${release.tag}</th>
<td>${timeLabel(release.publishedAt)}</td>
<td class="mono">${release.digest === undefined ? release.image : html`<abbr title="${release.image}">${release.digest.slice(0, 19)}…</abbr>`}</td>
<td>${
          release.broken === undefined
            ? html`<span class="state state-succeeded"><span aria-hidden="true">✓</span> deployable</span>`
            : html`<span class="broken" data-broken="true"><span aria-hidden="true">✗</span> broken</span>: <span class="error-text">${release.broken.reason}</span><br><small>by ${release.broken.by}, ${timeLabel(release.broken.at)}</small>`
        }</td>
</tr>`,
      )}</tbody>
</table></div>`
}`;
}
