// Which audit entries a fleet event makes: who did what, as one flat entry each. Host
// reports make entries only when they show a slot taken or released, or the host lost;
// the rest of a host's progress is its deploy's status, not the audit's. Never a secret:
// a token's entries carry its id, scope and name.
import type { AuditAction, NewAuditEntry } from '../../shared/contract/audit-entry.js';
import type { DeployRef, FleetEvent } from '../../shared/contract/fleet-events.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';
import type { SlotSightings } from './slot-sightings.js';
import { describeRoutes } from '../../shared/contract/routing.js';

export function auditEntriesOf(event: FleetEvent, slots: SlotSightings): NewAuditEntry[] {
  const base = { time: new Date(event.at).toISOString(), actor: event.actor };
  const entry = (action: AuditAction, fields: Omit<NewAuditEntry, 'time' | 'actor' | 'action'>): NewAuditEntry => ({ ...base, action, ...defined(fields) });
  switch (event.kind) {
    case 'release.published':
      return [entry('release.published', { role: event.release.role, tag: event.release.tag, detail: `image ${event.release.image}` })];
    case 'release.broken':
      return [entry('release.broken', { role: event.role, tag: event.tag, detail: event.reason })];
    case 'deploy.started':
      return [entry(startAction(event.deploy), { ...deployFields(event.deploy), ...catchUpHost(event.deploy), detail: startDetail(event.deploy) })];
    case 'deploy.finished':
      return [entry('deploy.finished', { ...deployFields(event.deploy), detail: finishDetail(event.deploy) })];
    case 'promotion.failed':
      return [entry('promotion.failed', { ...deployFields(event.deploy), detail: event.error })];
    case 'host.reported':
      return reportEntries(event.deploy, event.report, slots).map(([action, detail]) =>
        entry(action, { ...deployFields(event.deploy), host: event.report.host, detail }),
      );
    case 'host.forgotten':
      return [
        entry('host.forgotten', {
          role: event.role,
          env: event.env,
          host: event.host,
          detail: `no longer counted out of service${event.forced ? ' (forced while it held a slot)' : ''}: ${event.reason ?? 'no reason given'}`,
        }),
      ];
    case 'group.frozen': {
      const until = event.until === undefined ? 'until unfrozen' : `until ${new Date(event.until).toISOString()}`;
      return [entry('group.frozen', { role: event.role, env: event.env, detail: `${until}: ${event.reason}` })];
    }
    case 'group.unfrozen':
      return [entry('group.unfrozen', { role: event.role, env: event.env, detail: `after ${(event.frozenMs / 1000).toFixed(0)} s frozen (${event.reason})` })];
    case 'group.switched':
      return [entry('group.switched', { role: event.role, env: event.env, detail: `traffic switched back to ${event.live}: ${event.servers} servers in ${event.ms} ms` })];
    case 'routes.changed':
      return [entry('routes.changed', { role: event.role, env: event.env, detail: `${event.change}; ${describeRoutes(event.routes)}` })];
    case 'cluster.retired':
      return [entry('cluster.retired', { role: event.role, env: event.env, detail: `cluster ${event.cluster} retired: ${event.servers} servers into maintenance` })];
    case 'token.created': {
      const { id, scope, name, host, expiresAt } = event.token;
      const expiry = expiresAt === undefined ? 'never expires' : `expires ${new Date(expiresAt).toISOString()}`;
      return [entry('token.created', { host, detail: `credential ${id}, scope ${scope}, name ${name}, ${expiry}` })];
    }
    case 'token.revoked': {
      const { id, scope, name } = event.token;
      const known = scope === undefined ? '' : `, scope ${scope}${name === undefined ? '' : `, name ${name}`}`;
      return [entry('token.revoked', { detail: `credential ${id}${known}` })];
    }
    case 'serf.key-rotated':
      return [entry('serf.key-rotated', { detail: "the fleet's Serf gossip key was replaced" })];
    case 'flag.changed':
      return [entry('flag.changed', { env: event.env, detail: `flag ${event.flag} ${event.change} (version ${event.version}): ${event.summary}` })];
    case 'flag.killed':
      return [entry('flag.killed', { env: event.env, detail: `flag ${event.flag} killed: ${event.reason ?? 'no reason given'}` })];
  }
}

type ReportEntry = [AuditAction, string];

/** A lost host, or its slot's first sightings; nothing for the rest of its progress. */
function reportEntries(deploy: DeployRef, report: HostReport, slots: SlotSightings): ReportEntry[] {
  if (report.state === 'lost') {
    const held = report.steps.some((s) => s.step === 'slot') && !report.steps.some((s) => s.step === 'release');
    const slot = held && report.slot !== undefined ? `; it held slot ${report.slot}, whose lease lapses by itself (the host counts against k until it serves again)` : '';
    return [['host.lost', `${report.error ?? 'Serf no longer lists the host'}${slot}`]];
  }
  const moves = slots.sight(deploy.id, report);
  const entries: ReportEntry[] = [];
  const slot = report.slot === undefined ? 'a slot' : `slot ${report.slot}`;
  if (moves.taken) entries.push(['slot.taken', `${slot}${report.epoch === undefined ? '' : `, epoch ${report.epoch}`}`]);
  if (moves.released) entries.push(['slot.released', `${slot}${report.state === 'deploying' ? '' : `; the host ${report.state}`}`]);
  return entries;
}

function startAction(deploy: DeployRecord): AuditAction {
  if (deploy.rollbackOf !== undefined) return 'rollback.started';
  if (deploy.promotedFrom !== undefined) return 'promotion.started';
  if (deploy.catchUpOf !== undefined) return 'catch-up.started';
  return 'deploy.started';
}

function startDetail(deploy: DeployRecord): string {
  const parts: string[] = [];
  if (deploy.rollbackOf !== undefined) parts.push(`rollback of ${deploy.rollbackOf}`);
  if (deploy.promotedFrom !== undefined) parts.push(`promoted from ${deploy.promotedFrom}`);
  if (deploy.catchUpOf !== undefined) parts.push(`catch-up after ${deploy.catchUpOf}`);
  if (deploy.cluster !== undefined) parts.push(`cluster ${deploy.cluster}`);
  const hosts = deploy.targets?.length;
  if (hosts !== undefined) parts.push(`${hosts} host${hosts === 1 ? '' : 's'}${deploy.slots === undefined ? '' : `, ${deploy.slots} at a time`}`);
  return parts.join('; ');
}

function finishDetail(deploy: DeployRecord): string {
  const took = deploy.finishedAt === undefined ? '' : ` in ${((deploy.finishedAt - deploy.createdAt) / 1000).toFixed(1)} s`;
  return `${deploy.status}${took}${deploy.reason === undefined ? '' : `: ${deploy.reason}`}`;
}

function deployFields(deploy: DeployRef): Pick<NewAuditEntry, 'role' | 'env' | 'deployId' | 'tag'> {
  return { role: deploy.role, env: deploy.env, deployId: deploy.id, tag: deploy.tag };
}

/** A catch-up brings one host to its group's release: the entry names it. */
function catchUpHost(deploy: DeployRecord): Pick<NewAuditEntry, 'host'> {
  return deploy.catchUpOf === undefined || deploy.targets?.length !== 1 ? {} : { host: deploy.targets[0] };
}

/** The fields that apply: an entry holds no empty ones. */
function defined<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== '')) as T;
}
