// A deploy's progress as events: each host step and each host's end, read from successive
// records of the deploy, each told once and in the order they happened. The plain lines of
// `--wait` and the NDJSON of `--json --wait` are both written from these.
import { FINAL_HOST_STATES, type Deploy, type HostState, type HostStep } from '../../shared/contract/schemas.js';

/** One line of `--json --wait` before the last (README, "Live CLI progress"). */
export type HostEvent =
  | { event: 'host.step'; deploy: string; host: string; step: HostStep; at: number; slot?: number }
  | { event: 'host.ended'; deploy: string; host: string; state: HostState; at: number; error?: string };

/**
 * Hosts report on their own, so a step can reach the coordinator after a later step of
 * another host was told. An event waits this long after its time before it is told, and
 * events are told in time order; the rest come out sorted when the deploy ends.
 */
export const HOLD_BACK_MS = 1_000;

/** The host events of one deploy, each given once, in time order. */
export class HostEvents {
  private readonly told = new Set<string>();

  /** Events not given yet whose time is at or before `until` (ms since the epoch), in time order. */
  take(deploy: Deploy, until: number): HostEvent[] {
    return keyedEventsOf(deploy)
      .filter(({ key, order }) => order <= until && !this.told.has(key))
      .sort((a, b) => a.order - b.order)
      .map(({ key, event }) => {
        this.told.add(key);
        return event;
      });
  }
}

interface KeyedEvent {
  key: string;
  /** The event's time; a host's end sorts after a step of the same millisecond. */
  order: number;
  event: HostEvent;
}

/** Every host step and end state of the deploy, each with its time. */
function keyedEventsOf(deploy: Deploy): KeyedEvent[] {
  const events: KeyedEvent[] = [];
  for (const report of Object.values(deploy.hosts)) {
    for (const { step, at } of report.steps) {
      const slot = step === 'slot' && report.slot !== undefined ? { slot: report.slot } : {};
      events.push({ key: `${report.host}:${step}`, order: at, event: { event: 'host.step', deploy: deploy.id, host: report.host, step, at, ...slot } });
    }
    if (FINAL_HOST_STATES.has(report.state)) {
      // A host that stood down while waiting ends later than its last step.
      const at = report.endedAt ?? report.steps[report.steps.length - 1]?.at ?? deploy.createdAt;
      const error = report.error === undefined ? {} : { error: report.error };
      events.push({ key: `${report.host}:=${report.state}`, order: at + 0.5, event: { event: 'host.ended', deploy: deploy.id, host: report.host, state: report.state, at, ...error } });
    }
  }
  return events;
}
