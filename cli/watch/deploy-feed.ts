// Where `--wait` gets the deploy's records from. Today it asks GET /v1/deploys/:id four times
// a second; a feed reading the coordinator's event stream (/v1/events?deploy=ID) can take its
// place without the views knowing.
import type { Deploy } from '../../shared/contract/schemas.js';
import { UnreachableError } from '../../shared/contract/errors.js';
import { pollUntil } from '../../shared/contract/waiting.js';

export interface DeployReader {
  getDeploy(id: string): Promise<Deploy>;
}

export interface FollowOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface DeployFeed {
  /**
   * Gives `onRecord` each record of deploy `id` it reads (an unchanged one too), the last
   * one ended, and resolves with that one. Throws a TimeoutError past `timeoutMs`, and the reader's error
   * when the coordinator stops answering.
   */
  follow(id: string, onRecord: (deploy: Deploy) => void, options: FollowOptions): Promise<Deploy>;
}

const POLL_MS = 250;
/**
 * How long the coordinator (or the Redis behind it) may stay unreachable before the watch
 * gives up: a coordinator restarting, a Sentinel failover (about 3 s) or a slow answer on a
 * busy machine is ridden out; a coordinator that stays away ends the watch with its error.
 */
export const OUTAGE_MS = 30_000;

/** Reads the whole record again at each poll: one small GET per quarter second. */
export class PolledDeployFeed implements DeployFeed {
  constructor(
    private readonly reader: DeployReader,
    private readonly intervalMs = POLL_MS,
    private readonly outageMs = OUTAGE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  follow(id: string, onRecord: (deploy: Deploy) => void, { timeoutMs, signal }: FollowOptions): Promise<Deploy> {
    let unreachableSince: number | undefined;
    const ended = async () => {
      const deploy = await this.reader.getDeploy(id);
      unreachableSince = undefined;
      onRecord(deploy);
      return deploy.status === 'in_progress' ? undefined : deploy;
    };
    // Only "unreachable" is waited through, and only for a while; any answer that refuses
    // (401, 403, 404, a bad record) ends the watch at once with its error.
    const tolerate = (error: unknown) => {
      if (!(error instanceof UnreachableError)) return false;
      unreachableSince ??= this.now();
      return this.now() - unreachableSince < this.outageMs;
    };
    return pollUntil(`deploy ${id} to end`, ended, { timeoutMs, intervalMs: this.intervalMs, tolerate, ...(signal ? { signal } : {}) });
  }
}
