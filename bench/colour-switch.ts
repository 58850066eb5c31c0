// A blue/green switch of the bench's whole group, as the load balancer itself saw it: HAProxy's
// runtime API read in a tight loop until every host's server of the new colour is ready at
// full weight and every server of the other colour at 0 (no new request can reach it).
import { FULL_WEIGHT, otherColour, serverName, type Colour } from '../shared/contract/strategy.js';
import { TimeoutError } from '../shared/contract/errors.js';
import { pollUntil } from '../shared/contract/waiting.js';
import { RolloutFailedError, haproxyServers } from './rollout-checks.js';

/** Between two reads of the servers' state: the resolution of the load balancer's figure. */
export const READ_INTERVAL_MS = 5;

/** One blue/green cycle: a blue/green deploy's switch to the idle colour, then `grapevine switch` back. */
export interface ColourSwitchRun {
  run: number;
  deployId: string;
  tag: string;
  /** The tag the live colour served before, and serves again after the switch back. */
  servedTag: string;
  from: Colour;
  to: Colour;
  /** Servers the coordinator weighed (both colours of every host), per its outcome. */
  servers: number;
  /** The coordinator's own figure from the deploy's outcome: the weight change through the relay. */
  switchMs: number;
  /** From the moment the coordinator sent the weight change until HAProxy had every host on the new colour. */
  switchLbMs: number;
  /** The deploy's createdAt → the switch: every host started the idle colour meanwhile. */
  stagedMs: number;
  backServers: number;
  /** The coordinator's answer to `POST /v1/groups/web/production/switch`. */
  backMs: number;
  /** From just before the switch-back request was sent until HAProxy had every host on the old colour again. */
  backLbMs: number;
  /** How often the servers' state was read while waiting; the LB figures are at most this late. */
  readIntervalMs: number;
}

export interface SwitchWatch {
  hosts: readonly string[];
  colour: Colour;
  socketPath: string;
  backend: string;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * Resolves with the time (ms since the epoch) of the first read of HAProxy's servers that
 * shows the whole group on `colour`; a RolloutFailedError past the deadline.
 */
export async function whenGroupServes(watch: SwitchWatch): Promise<number> {
  const { hosts, colour, socketPath, backend, timeoutMs, signal } = watch;
  const check = async () => {
    const servers = new Map((await haproxyServers(socketPath, backend)).map((row) => [row.srv_name, row]));
    const seenAt = Date.now();
    const on = hosts.every((host) => {
      const server = servers.get(serverName(host, colour));
      return server?.srv_op_state === '2' && server.srv_admin_state === '0' && Number(server.srv_uweight) === FULL_WEIGHT;
    });
    const off = hosts.every((host) => Number(servers.get(serverName(host, otherColour(colour)))?.srv_uweight ?? 0) === 0);
    return on && off ? seenAt : undefined;
  };
  try {
    return await pollUntil(`HAProxy to serve every host's ${colour} colour`, check, { timeoutMs, intervalMs: READ_INTERVAL_MS, signal, tolerate: () => false });
  } catch (error) {
    if (error instanceof TimeoutError) throw new RolloutFailedError(error.message);
    throw error;
  }
}

/** "switched 6 servers to green in 12 ms; blue kept until …" (coordinator/strategies/blue-green-steps.ts). */
export function parseSwitchOutcome(outcome: string | undefined): { servers: number; colour: Colour; ms: number } | undefined {
  const match = /switched (\d+) servers to (blue|green) in (\d+) ms/.exec(outcome ?? '');
  if (!match) return undefined;
  return { servers: Number(match[1]), colour: match[2] as Colour, ms: Number(match[3]) };
}
