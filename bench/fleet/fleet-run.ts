// `--fleet N,...` of `npm run bench`: each size in turn, its table printed once all ran (or
// once one failed, with the sizes done), and the run's verdict: every deploy must succeed.
import { cpus } from 'node:os';
import { benchFleet, MAX_FLEET_HOSTS, fleetWorkerCount } from './fleet-bench.js';
import type { FleetResult } from './fleet-figures.js';
import { renderFleetTable } from './fleet-table.js';
import { MEASURED_T, SERF_GOSSIP } from './distributions.js';

/** The smoke's fleet: large enough for 100 slots and 3 waves, quick enough for CI. */
export const SMOKE_FLEET_HOSTS = 300;
export const DEFAULT_FLEET_GIVE_UP_S = 600;
/** Fixed, so that a run's draws can be repeated; runs differ only in what the machine does. */
const SEED = 14;

/** The sizes of `--fleet`, or a message naming what is wrong with them. */
export function parseFleetSizes(text: string): number[] | string {
  const sizes = text.split(',').map((s) => Number(s.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_FLEET_HOSTS)) return `--fleet takes whole numbers from 1 to ${MAX_FLEET_HOSTS}`;
  if (new Set(sizes).size !== sizes.length) return '--fleet lists a size twice';
  return sizes;
}

export interface FleetRunOptions {
  sizes: number[];
  giveUpS: number;
  coordinators: number;
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface FleetRun {
  results: FleetResult[];
  /** Why the run failed: a size that could not run, or a deploy that did not succeed. */
  failure?: string;
}

export async function runFleet(options: FleetRunOptions): Promise<FleetRun> {
  const results: FleetResult[] = [];
  for (const hosts of options.sizes) {
    if (options.signal.aborted) return { results, failure: 'interrupted' };
    try {
      const result = await benchFleet({ hosts, seed: SEED + hosts, giveUpMs: options.giveUpS * 1000, coordinators: options.coordinators, log: options.log, signal: options.signal });
      results.push(result);
      options.log(`fleet ${hosts}: ${result.status}, wall ${Math.round(result.wallMs)} ms, ideal ${Math.round(result.idealMs)} ms`);
      if (result.status !== 'succeeded' || result.incomplete !== undefined) {
        return { results, failure: `the deploy to ${hosts} simulated hosts ended ${result.status}${result.incomplete ? ` (${result.incomplete})` : ''}` };
      }
    } catch (error) {
      return { results, failure: `fleet ${hosts}: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  return { results };
}

export function fleetReport(run: FleetRun, startedAt: string, coordinators: number): string {
  const t = MEASURED_T;
  const g = SERF_GOSSIP;
  return [
    '',
    `Grapevine fleet simulation, ${startedAt} (${cpus().length} CPUs, Node ${process.version}; ${fleetWorkerCount()} worker processes of simulated hosts,`,
    `real Redis, ${coordinators === 1 ? 'coordinator (own process)' : `${coordinators} coordinators (own processes, the hosts sharing them)`} and agent deploy logic with its Lua scripts; one rolling deploy per size.`,
    `T per host: lognormal, median ${t.medianMs} ms, sigma ${t.sigma}, bounded to ${t.minMs}–${t.maxMs} ms; event delivery: push gossip every ${g.intervalMs} ms`,
    `to ${g.fanout} random members, ${g.retransmitMult} × log10(n+1) sends per host (Serf's defaults), ${g.linkMs} ms a hop.`,
    ...(run.failure === undefined ? [] : [`Incomplete: ${run.failure}.`]),
    '',
    renderFleetTable(run.results),
    '',
  ].join('\n');
}
