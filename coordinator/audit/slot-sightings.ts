// When a host took and gave back its slot, for the audit log, from its reports alone. A
// report carries every step so far, and an agent may coalesce several steps into one
// report, so "taken" is the first report of a host in a deploy that shows the `slot` step
// and "released" the first that shows `release` (or a final state after a slot). What was
// told is kept per deploy and host in a bounded map, oldest forgotten first: memory stays
// flat however long the coordinator runs. The map lives in the coordinator's memory, so a
// coordinator that restarts mid-deploy tells a slot taken again, at most once per host whose
// deploy was under way (and a host's taken and released pair again only if the restart fell
// between writing them and answering the report that showed them, which the agent resends).
import { FINAL_HOST_STATES, type HostReport } from '../../shared/contract/schemas.js';

/** Hosts whose slot moves are remembered; a deploy's hosts report within minutes, so this covers thousands of hosts deploying at once. */
export const DEFAULT_SLOT_SIGHTINGS = 10_000;

type Told = 'taken' | 'released';

export interface SlotMoves {
  taken: boolean;
  released: boolean;
}

/** What `report` tells of its host's slot beyond `told` (what earlier reports told). Pure. */
export function slotMoves(told: Told | undefined, report: HostReport): SlotMoves {
  const none = { taken: false, released: false };
  // The watchdog's `lost` report repeats the host's last steps: the host said nothing new.
  if (report.state === 'lost' || told === 'released') return none;
  const steps = new Set(report.steps.map((s) => s.step));
  if (!steps.has('slot')) return none;
  const released = steps.has('release') || FINAL_HOST_STATES.has(report.state);
  return { taken: told === undefined, released };
}

export class SlotSightings {
  readonly #told = new Map<string, Told>();
  readonly #capacity: number;

  constructor(capacity = DEFAULT_SLOT_SIGHTINGS) {
    this.#capacity = capacity;
  }

  /** What this report tells that the deploy's earlier reports of the same host did not; remembers it. */
  sight(deployId: string, report: HostReport): SlotMoves {
    const key = `${deployId} ${report.host}`;
    const told = this.#told.get(key);
    const moves = slotMoves(told, report);
    if (!moves.taken && !moves.released) return moves;
    // Re-inserted, so the map's first key is always the one heard of least recently.
    this.#told.delete(key);
    this.#told.set(key, moves.released ? 'released' : 'taken');
    while (this.#told.size > this.#capacity) {
      const oldest = this.#told.keys().next().value;
      if (oldest === undefined) break;
      this.#told.delete(oldest);
    }
    return moves;
  }

  /** Hosts remembered now (never above the capacity). */
  get size(): number {
    return this.#told.size;
  }
}
