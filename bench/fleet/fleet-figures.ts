// A fleet run's figures, from what the bench gathered: the deploy's times, the hosts'
// outcomes, the draws, and before/after readings of the coordinator and Redis.
import type { CpuShares } from '../cpu-steal.js';
import { commandDelta, totalCommands, type CommandCounts } from '../measure.js';
import type { HostOutcome } from './fleet-messages.js';
import { handOvers, idealMakespan, percentile, type HostDraw } from './schedule.js';
import { SLOT_HOLD_SHARE } from './simulated-host.js';

export interface FleetRaw {
  hosts: number;
  slots: number;
  draws: HostDraw[];
  createdAt: number;
  /** When the coordinator handed out the event (its sink was called). */
  firedAt: number | undefined;
  finishedAt: number | undefined;
  status: string;
  outcomes: HostOutcome[];
  /** Summed over the coordinators; `coordinatorCpuMicrosEach` has each one's, the first first. */
  coordinatorCpuMicros: number;
  coordinatorCpuMicrosEach: number[];
  /** The highest of the coordinators'. */
  coordinatorRssPeakBytes: number;
  /** HTTP requests the coordinator served over the deploy, by kind. */
  requests: Record<string, number>;
  /** All requests each coordinator served over the deploy. */
  requestsEach: number[];
  commandsBefore: CommandCounts;
  commandsAfter: CommandCounts;
  redisCpuSeconds: number;
  redisMemoryPeakBytes: number;
  redisClientsPeak: number;
  workerRssPeakBytes: number;
  workerCpuMicros: number;
  /** The whole machine's CPU over the same window: how busy, and how much the hypervisor took. */
  machine: CpuShares;
  /** The coordinator's warm-up deploys before the measured one (warm-up.ts), and their hosts each; the fleet's first deploy follows them. */
  warmUp: { deploys: number; hosts: number };
  /** Why the run stopped short, when it did. */
  incomplete?: string;
}

export interface FleetResult {
  hosts: number;
  slots: number;
  waves: number;
  status: string;
  /** Host count per final state; 'no part' for a host whose runner took none (it could not read the deploy, or never ran). */
  states: Record<string, number>;
  workMedianMs: number;
  deliveryMedianMs: number;
  deliveryMaxMs: number;
  wallMs: number;
  idealMs: number;
  overheadMs: number;
  createdToFiredMs: number;
  coordinatorCpuMsPerHost: number;
  /** Each coordinator's CPU per host of the fleet, and its share of the requests (a percentage). */
  coordinatorsEach: Array<{ cpuMsPerHost: number; requestShare: number }>;
  /** What ran before the measured deploy: the coordinator's warm-up deploys and their hosts each, then the fleet's own first deploy. */
  warmUp: string;
  /** Requests per host over the deploy: host views (lookups, retries included), reports, and all. */
  viewsPerHost: number;
  reportsPerHost: number;
  requestsPerHost: number;
  redisCommandsPerHost: number;
  redisCpuMs: number;
  handOverP50Ms: number;
  handOverP99Ms: number;
  handOvers: number;
  coordinatorRssPeakBytes: number;
  redisMemoryPeakBytes: number;
  workerRssPerHostBytes: number;
  workerCpuMsPerHost: number;
  redisClientsPeak: number;
  machine: CpuShares;
  incomplete?: string;
}

/** The bench's own probe reads INFO; those calls are not the fleet's. */
const PROBE_COMMANDS = new Set(['info']);

export function fleetResult(raw: FleetRaw): FleetResult {
  const { hosts, slots, draws } = raw;
  const states: Record<string, number> = {};
  for (const outcome of raw.outcomes) states[outcome.state ?? 'no part'] = (states[outcome.state ?? 'no part'] ?? 0) + 1;
  const missing = hosts - raw.outcomes.length;
  if (missing > 0) states['no part'] = (states['no part'] ?? 0) + missing;
  // Each host holds its slot for T less the part of its drain spent beside its pull.
  const idealMs = idealMakespan(draws.map((d) => ({ ...d, workMs: d.workMs * SLOT_HOLD_SHARE })), slots);
  const wallMs = raw.finishedAt === undefined ? Number.NaN : raw.finishedAt - raw.createdAt;
  const delta = commandDelta(raw.commandsBefore, raw.commandsAfter);
  for (const name of PROBE_COMMANDS) delta.delete(name);
  const releases = raw.outcomes.flatMap((o) => (o.slot !== undefined && o.releasedAt !== undefined ? [{ slot: o.slot, atMs: o.releasedAt }] : []));
  const grants = raw.outcomes.flatMap((o) => (o.waited && o.slot !== undefined && o.grantedAt !== undefined ? [{ slot: o.slot, atMs: o.grantedAt }] : []));
  const overs = handOvers(releases, grants);
  const delays = draws.map((d) => d.readyMs);
  return {
    hosts,
    slots,
    waves: Math.ceil(hosts / slots),
    status: raw.status,
    states,
    workMedianMs: percentile(draws.map((d) => d.workMs), 50),
    deliveryMedianMs: percentile(delays, 50),
    deliveryMaxMs: Math.max(...delays),
    wallMs,
    idealMs,
    overheadMs: wallMs - idealMs,
    createdToFiredMs: raw.firedAt === undefined ? Number.NaN : raw.firedAt - raw.createdAt,
    coordinatorCpuMsPerHost: raw.coordinatorCpuMicros / 1000 / hosts,
    coordinatorsEach: raw.coordinatorCpuMicrosEach.map((micros, i) => ({
      cpuMsPerHost: micros / 1000 / hosts,
      requestShare: (100 * (raw.requestsEach[i] ?? 0)) / Math.max(1, raw.requestsEach.reduce((a, b) => a + b, 0)),
    })),
    warmUp: `${raw.warmUp.deploys} × ${raw.warmUp.hosts} hosts, then the fleet's first`,
    viewsPerHost: (raw.requests.view ?? 0) / hosts,
    reportsPerHost: (raw.requests.report ?? 0) / hosts,
    requestsPerHost: Object.values(raw.requests).reduce((a, b) => a + b, 0) / hosts,
    redisCommandsPerHost: totalCommands(delta) / hosts,
    redisCpuMs: raw.redisCpuSeconds * 1000,
    handOverP50Ms: percentile(overs, 50),
    handOverP99Ms: percentile(overs, 99),
    handOvers: overs.length,
    coordinatorRssPeakBytes: raw.coordinatorRssPeakBytes,
    redisMemoryPeakBytes: raw.redisMemoryPeakBytes,
    workerRssPerHostBytes: raw.workerRssPeakBytes / hosts,
    workerCpuMsPerHost: raw.workerCpuMicros / 1000 / hosts,
    redisClientsPeak: raw.redisClientsPeak,
    machine: raw.machine,
    ...(raw.incomplete === undefined ? {} : { incomplete: raw.incomplete }),
  };
}
