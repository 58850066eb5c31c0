// Tells the agent when its Serf agent (re)joins the cluster: the first time it sees another
// member alive, and whenever the members come back after most of them were unreachable at
// once (this host was cut off, or its Serf agent restarted alone). Its member list is read
// every few seconds: one request on the agent's persistent RPC connection, no process.
import { errorMessage } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import { pause } from '../shared/contract/waiting.js';
import type { SerfMember } from '../shared/ports/membership.js';

export interface SerfRejoinOptions {
  /** This host's Serf node name. */
  self: string;
  /** Every member this host's Serf agent knows, with its status (`serf members`). */
  members: () => Promise<SerfMember[]>;
  /** Called once per (re)join, at most once per `minGapMs`; must not throw. */
  onRejoin: (how: 'joined' | 'rejoined') => void;
  intervalMs?: number;
  /** Joins closer together than this (a flapping link) make one call, at the end of the gap. */
  minGapMs?: number;
  logger: Logger;
  now?: () => number;
}

const DEFAULT_INTERVAL_MS = 5_000;
const DEFAULT_MIN_GAP_MS = 15_000;

/**
 * Whether this host's Serf agent is part of the cluster: it knows another member, and
 * most of the others (a graceful leave aside) are alive, not failed.
 */
export function joinedCluster(members: SerfMember[], self: string): boolean {
  const others = members.filter((member) => member.name !== self && member.status !== 'left');
  const alive = others.filter((member) => member.status === 'alive').length;
  return alive > 0 && alive * 2 >= others.length;
}

export class SerfRejoinWatch {
  private readonly options: SerfRejoinOptions;
  private readonly now: () => number;

  constructor(options: SerfRejoinOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Reads the member list every interval until `signal` fires. */
  async run(signal: AbortSignal): Promise<void> {
    const { self, intervalMs = DEFAULT_INTERVAL_MS, minGapMs = DEFAULT_MIN_GAP_MS } = this.options;
    const log = this.options.logger.child({ component: 'serf-rejoin' });
    let joined = false;
    let everJoined = false;
    let due: number | undefined;
    let lastCall = Number.NEGATIVE_INFINITY;
    let failing = false;
    while (!signal.aborted) {
      try {
        const now = joinedCluster(await this.options.members(), self);
        if (failing) log.info('Serf members listed again');
        failing = false;
        if (now && !joined) {
          log.info(everJoined ? 'Serf members reachable again after this host was cut off' : 'Serf agent joined the cluster');
          due = Math.max(this.now(), lastCall + minGapMs);
        }
        // Cut off again before the call was due: the next join makes it.
        if (!now) due = undefined;
        joined = now;
        if (due !== undefined && this.now() >= due) {
          due = undefined;
          lastCall = this.now();
          this.options.onRejoin(everJoined ? 'rejoined' : 'joined');
          everJoined = true;
        }
      } catch (error) {
        if (!failing) log.warn({ err: errorMessage(error) }, 'cannot list Serf members; a rejoin is noticed once it answers');
        failing = true;
      }
      await pause(intervalMs, signal).catch(() => undefined);
    }
  }
}
