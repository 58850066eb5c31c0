// What the fleet bench's processes tell each other over their IPC channels: the bench
// starts a coordinator process and worker processes, hands the deploy event from the
// coordinator's event sink to the workers, and collects each side's figures.
import type { DeployEventPayload, HostState } from '../../shared/contract/schemas.js';

export const FLEET_ROLE = 'web';
export const FLEET_ENV = 'production';
/** The warm-up deploy's environment (warm-up.ts): a group no simulated host is in. */
export const FLEET_WARM_UP_ENV = 'staging';
/** The registry the bench's release names; the coordinator's stand-in registry pins every tag to one digest. */
export const FLEET_REGISTRY = '127.0.0.1:5000';

export interface CoordinatorStart {
  type: 'start';
  /** The coordinator user's Redis URL (a secret: it goes over IPC, never a command line). */
  redisUrl: string;
  hosts: string[];
  /** The warm-up deploy's hosts, members of FLEET_WARM_UP_ENV. */
  warmUpHosts: string[];
  /** The bootstrap operator's token, with which the bench publishes and deploys. */
  token: string;
  logFile: string;
  /**
   * A second coordinator over the same Redis: it makes no credentials (the first made them)
   * and runs no watchdog (only the lease holder does); it serves every request.
   */
  second?: boolean;
}

export type CoordinatorCommand = CoordinatorStart | { type: 'sample' } | { type: 'stop' };

export interface CoordinatorSample {
  type: 'sample';
  /** process.cpuUsage() of the coordinator, user + system, microseconds. */
  cpuMicros: number;
  /** Highest RSS seen (100 ms samples) since the last sample. */
  rssPeakBytes: number;
  /** HTTP requests served so far, by kind (view: a host's lookup, report, other). */
  requests: Record<string, number>;
}

export type CoordinatorReply =
  | { type: 'ready'; url: string; hostTokens: string[]; warmUpTokens: string[] }
  | { type: 'deploy-event'; payload: DeployEventPayload; firedAt: number }
  | CoordinatorSample
  | { type: 'failed'; message: string };

export interface SimulatedHostSpec {
  name: string;
  /** The host's own credential (a secret: IPC only). */
  token: string;
  /** Its work T, split over drain, pull, up, health and register. */
  workMs: number;
  /** How long after the event is fired it reaches this host. */
  delayMs: number;
}

export interface WorkerStart {
  type: 'start';
  hosts: SimulatedHostSpec[];
  /** The agent user's Redis URL. */
  redisUrl: string;
  coordinatorUrl: string;
  slotLeaseMs: number;
  logFile: string;
}

export type WorkerCommand = WorkerStart | { type: 'deploy'; payload: DeployEventPayload; firedAt: number } | { type: 'stop' };

/** One simulated host's part, as its worker saw it (epoch ms). */
export interface HostOutcome {
  name: string;
  /** Final state, or null when the runner had nothing to do or the run was cut off. */
  state: HostState | null;
  receivedAt: number;
  grantedAt?: number;
  slot?: number;
  waited: boolean;
  releasedAt?: number;
  endedAt: number;
}

export type WorkerReply =
  | { type: 'ready'; rssBytes: number }
  | { type: 'progress'; ended: number }
  /** cpuMicros: the worker's own CPU from the event's arrival on (how much of the machine the simulation itself took). */
  | { type: 'finished'; outcomes: HostOutcome[]; rssPeakBytes: number; cpuMicros: number }
  | { type: 'failed'; message: string };
