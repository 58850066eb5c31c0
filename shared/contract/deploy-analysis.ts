// Where a deploy's time went, read from its host reports: which hosts held slots together
// (its waves), each host's waiting versus working time, and the slowest step. Pure, so the
// CLI's summary and the dashboard show the same numbers for the same record.
import { FINAL_HOST_STATES, type Deploy, type HostReport, type HostState, type HostStep } from './schemas.js';

/** One step of a host, with how long it lasted: until its next step, or its end. */
export interface TimedStep {
  step: HostStep;
  at: number;
  ms: number;
}

export interface HostTiming {
  host: string;
  state: HostState;
  /** Its first step (ms since the epoch); unset for a host that reported no step. */
  startedAt?: number;
  /** When it ended, or `now` for a host still going. */
  endedAt?: number;
  /** When it took its slot, and when it let it go (its `release` step, else its end); unset for a host that never held one. */
  slotAt?: number;
  freedAt?: number;
  slot?: number;
  /** Its wave (1 for the first hosts to hold slots); unset for a host that never held one. */
  wave?: number;
  /** Before its slot: received, the deploy's job (run or waited for), waiting for a free slot; all of its time when it never got one. */
  waitingMs: number;
  /** With its slot: from the slot to its end. */
  workingMs: number;
  steps: TimedStep[];
}

/** Hosts that held slots at the same time: each took its slot before any of the others let one go. */
export interface Wave {
  number: number;
  hosts: string[];
  /** The first slot taken to the last one let go. */
  startedAt: number;
  endedAt: number;
  durationMs: number;
}

export interface SlowestStep {
  host: string;
  step: HostStep;
  ms: number;
}

export interface DeployAnalysis {
  /** In host-name order (h2 before h10). */
  hosts: HostTiming[];
  waves: Wave[];
  /** Sums over the hosts. */
  waitingMs: number;
  workingMs: number;
  /** The longest step done with a slot held (or the job, on the host that ran it); unset before any. */
  slowestStep?: SlowestStep;
}

export const byHostName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/**
 * The analysis of `deploy` as its reports stand. `now` ends the open step of a host still
 * going (pass the deploy's `finishedAt` for a deploy that is over, the clock for a live one).
 */
export function analyzeDeploy(deploy: Pick<Deploy, 'hosts' | 'job'>, now: number): DeployAnalysis {
  const reports = Object.values(deploy.hosts);
  const hosts = reports.map((report) => timingOf(report, now));
  const waves = wavesOf(hosts, reports.map((report) => report.epoch));
  hosts.sort((a, b) => byHostName(a.host, b.host));
  return {
    hosts,
    waves,
    waitingMs: sum(hosts.map((h) => h.waitingMs)),
    workingMs: sum(hosts.map((h) => h.workingMs)),
    slowestStep: slowestStep(hosts, deploy.job?.host),
  };
}

function timingOf(report: HostReport, now: number): HostTiming {
  const sorted = [...report.steps].sort((a, b) => a.at - b.at);
  const endedAt = report.endedAt ?? (FINAL_HOST_STATES.has(report.state) ? sorted[sorted.length - 1]?.at : now);
  const end = endedAt ?? now;
  const steps = sorted.map(({ step, at }, i) => ({ step, at, ms: Math.max(0, (sorted[i + 1]?.at ?? end) - at) }));
  const startedAt = steps[0]?.at;
  const slotAt = steps.find((s) => s.step === 'slot')?.at;
  const freedAt = slotAt === undefined ? undefined : (steps.find((s) => s.step === 'release')?.at ?? end);
  const waitingMs = startedAt === undefined ? 0 : Math.max(0, (slotAt ?? end) - startedAt);
  const workingMs = slotAt === undefined ? 0 : Math.max(0, end - slotAt);
  return {
    host: report.host,
    state: report.state,
    startedAt,
    endedAt: startedAt === undefined ? undefined : end,
    slotAt,
    freedAt,
    slot: report.slot,
    waitingMs,
    workingMs,
    steps,
  };
}

interface Holder {
  timing: HostTiming;
  slotAt: number;
  freedAt: number;
  epoch: number | undefined;
}

/**
 * Hosts in the order they were granted slots (by the grant's fencing epoch when every host
 * has one: it orders grants across hosts whose clocks differ; else by slot time). A host
 * starts a new wave when it took a slot that a host of the current wave held (the slot was
 * let go and granted again, whatever the clocks say), or took its slot at or after a host of
 * the current wave let one go. Sets each host's `wave`; `epochs` are the hosts' grant
 * epochs, in the order of `hosts`.
 */
function wavesOf(hosts: HostTiming[], epochs: Array<number | undefined>): Wave[] {
  const holders: Holder[] = [];
  hosts.forEach((timing, i) => {
    if (timing.slotAt !== undefined && timing.freedAt !== undefined) holders.push({ timing, slotAt: timing.slotAt, freedAt: timing.freedAt, epoch: epochs[i] });
  });
  const byEpoch = holders.every((h) => h.epoch !== undefined);
  holders.sort((a, b) => (byEpoch ? a.epoch! - b.epoch! : 0) || a.slotAt - b.slotAt || byHostName(a.timing.host, b.timing.host));
  const waves: Array<{ holders: Holder[]; slots: Set<number>; firstFreedAt: number }> = [];
  for (const holder of holders) {
    const current = waves[waves.length - 1];
    const slot = holder.timing.slot;
    const regranted = slot !== undefined && current?.slots.has(slot) === true;
    if (current && !regranted && holder.slotAt < current.firstFreedAt) {
      current.holders.push(holder);
      if (slot !== undefined) current.slots.add(slot);
      current.firstFreedAt = Math.min(current.firstFreedAt, holder.freedAt);
    } else {
      waves.push({ holders: [holder], slots: new Set(slot === undefined ? [] : [slot]), firstFreedAt: holder.freedAt });
    }
  }
  return waves.map((wave, i) => {
    for (const holder of wave.holders) holder.timing.wave = i + 1;
    const startedAt = Math.min(...wave.holders.map((h) => h.slotAt));
    const endedAt = Math.max(...wave.holders.map((h) => h.freedAt));
    const names = wave.holders.map((h) => h.timing.host).sort(byHostName);
    return { number: i + 1, hosts: names, startedAt, endedAt, durationMs: endedAt - startedAt };
  });
}

/** Waiting is reported on its own; the slowest step is one of work: with a slot, or the job on its runner. */
function slowestStep(hosts: HostTiming[], jobHost: string | undefined): SlowestStep | undefined {
  let slowest: SlowestStep | undefined;
  for (const host of hosts) {
    for (const step of host.steps) {
      const working = (host.slotAt !== undefined && step.at >= host.slotAt) || (step.step === 'job' && host.host === jobHost);
      if (working && (slowest === undefined || step.ms > slowest.ms)) slowest = { host: host.host, step: step.step, ms: step.ms };
    }
  }
  return slowest;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
