// How long a host waited for a slot, read from its report's step times, and taken once per
// host per deploy however often the host reports (each report repeats every step so far).
import type { HostReport } from '../../shared/contract/schemas.js';

/** Deploys remembered for the once-per-host rule; a report older than this many deploys is rare and counted again at worst. */
const REMEMBERED_DEPLOYS = 1_000;

/**
 * Milliseconds from `waiting` to `slot` once the report has its slot; 0 for a host that found
 * a slot free at once (it reports no `waiting` step); undefined while it has no slot (a host
 * that stood down while waiting never took one).
 */
export function slotWaitMs(report: Pick<HostReport, 'steps'>): number | undefined {
  const slot = report.steps.find((s) => s.step === 'slot');
  if (!slot) return undefined;
  const waiting = report.steps.find((s) => s.step === 'waiting');
  return waiting ? Math.max(0, slot.at - waiting.at) : 0;
}

/** Remembers which hosts of which deploys were counted, for the newest REMEMBERED_DEPLOYS deploys. */
export class CountedSlotWaits {
  readonly #byDeploy = new Map<string, Set<string>>();
  readonly #limit: number;

  constructor(limit = REMEMBERED_DEPLOYS) {
    this.#limit = limit;
  }

  /** True the first time for this host and deploy; false after. */
  first(deployId: string, host: string): boolean {
    let hosts = this.#byDeploy.get(deployId);
    if (!hosts) {
      hosts = new Set();
      this.#byDeploy.set(deployId, hosts);
      // A Map iterates in insertion order: the first key is the oldest deploy.
      if (this.#byDeploy.size > this.#limit) this.#byDeploy.delete(this.#byDeploy.keys().next().value as string);
    }
    if (hosts.has(host)) return false;
    hosts.add(host);
    return true;
  }
}
