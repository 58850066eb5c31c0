// What `--wait` knows of the deploy it follows, built from a summary read once and the
// events that came after it (each host's report as it is stored, the deploy's end), with
// pages of reports filling in what happened before it looked. Pure: no I/O, no clock, so
// every rule (which of two reports of a host is newer, when the picture is complete) is
// tested on its own. The views are handed the whole Deploy it assembles.
import type { DeploySummary, DeployCounts } from '../../shared/contract/deploy-views.js';
import { FINAL_HOST_STATES, type Deploy, type HostReport, type HostState } from '../../shared/contract/schemas.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';

/** The events of `GET /v1/events?deploy=ID` this state reads; the others are skipped. */
export type FollowedEvent =
  | { kind: 'host.reported'; report: HostReport }
  | { kind: 'deploy.finished'; deploy: DeployRecord }
  | { kind: 'promotion.failed'; to: string; error: string };

export class FollowState {
  #record: DeployRecord;
  /** Mutated in place: a Deploy handed to a view shares it, so a tick costs no copy of 10 000 reports. */
  readonly #hosts: Record<string, HostReport> = {};
  #changed = true;
  /** How many hosts the deploy targets; a summary names them only when few. */
  readonly targetCount: number;

  constructor(summary: DeploySummary) {
    this.#record = recordOf(summary);
    this.targetCount = summary.targetCount;
  }

  get id(): string {
    return this.#record.id;
  }

  get ended(): boolean {
    return this.#record.status !== 'in_progress';
  }

  /** Whether anything changed since the last takeChange(); true once at the start. */
  takeChange(): boolean {
    const changed = this.#changed;
    this.#changed = false;
    return changed;
  }

  /** Hosts that reported, as this state has them. */
  get reported(): number {
    return Object.keys(this.#hosts).length;
  }

  apply(event: FollowedEvent): void {
    switch (event.kind) {
      case 'host.reported':
        this.addReport(event.report);
        return;
      case 'deploy.finished':
        this.#record = { ...this.#record, ...event.deploy };
        this.#changed = true;
        return;
      case 'promotion.failed':
        this.#record = { ...this.#record, promotion: { error: event.error } };
        this.#changed = true;
    }
  }

  /** A report from the stream or a page; an older one than held (a late delivery) is dropped. */
  addReport(report: HostReport): void {
    const held = this.#hosts[report.host];
    if (held !== undefined && !isNewer(report, held)) return;
    this.#hosts[report.host] = report;
    this.#changed = true;
  }

  /** A whole record read once (its target list, the reports so far); the newer of each host's reports is kept. */
  absorb(deploy: Deploy): void {
    const { hosts, ...record } = deploy;
    if (!(this.ended && record.status === 'in_progress')) this.#record = { ...this.#record, ...record };
    for (const report of Object.values(hosts)) this.addReport(report);
    this.#changed = true;
  }

  /** A fresher summary: the record's fields (status, promotion) as the coordinator has them now. */
  refresh(summary: DeploySummary): void {
    const next = recordOf(summary);
    // A summary read before the end event was applied must not take the end back.
    if (this.ended && next.status === 'in_progress') return;
    this.#record = { ...this.#record, ...next };
    this.#changed = true;
  }

  /** Hosts per state as this state has them: compared with a summary's to know whether a report was missed. */
  counts(): DeployCounts {
    const counts: Partial<Record<HostState, number>> = {};
    for (const report of Object.values(this.#hosts)) counts[report.state] = (counts[report.state] ?? 0) + 1;
    return counts;
  }

  /** Whether the reports held add up to what `summary` counts: if not, some report was missed and pages are read. */
  agreesWith(summary: DeploySummary): boolean {
    if (summary.reported !== this.reported) return false;
    const mine = this.counts();
    const states = new Set([...Object.keys(mine), ...Object.keys(summary.counts)]) as Set<HostState>;
    return [...states].every((state) => (mine[state] ?? 0) === (summary.counts[state] ?? 0));
  }

  deploy(): Deploy {
    return { ...this.#record, hosts: this.#hosts };
  }
}

/**
 * Whether `next` is a later report of its host than `held`. A host's steps only grow and it
 * ends once; a report can still arrive late (an agent resending after an outage), and the
 * watchdog's `lost` may be overtaken by the host's own end.
 */
export function isNewer(next: HostReport, held: HostReport): boolean {
  const nextFinal = FINAL_HOST_STATES.has(next.state);
  const heldFinal = FINAL_HOST_STATES.has(held.state);
  if (nextFinal !== heldFinal) return nextFinal;
  if (nextFinal && held.state === 'lost' && next.state !== 'lost') return true;
  return next.steps.length >= held.steps.length;
}

/** A summary as a record: what it says of the deploy, less its counts. */
function recordOf(summary: DeploySummary): DeployRecord {
  const { targetCount: _targets, reported: _reported, counts: _counts, ...record } = summary;
  return record;
}
