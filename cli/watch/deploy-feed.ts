// Where `--wait` gets the deploy's records from. Today it asks GET /v1/deploys/:id four times
// a second; a feed reading the coordinator's event stream (/v1/events?deploy=ID) can take its
// place without the views knowing.
import type { Deploy } from '../../shared/contract/schemas.js';
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

/** Reads the whole record again at each poll: one small GET per quarter second. */
export class PolledDeployFeed implements DeployFeed {
  constructor(
    private readonly reader: DeployReader,
    private readonly intervalMs = POLL_MS,
  ) {}

  follow(id: string, onRecord: (deploy: Deploy) => void, { timeoutMs, signal }: FollowOptions): Promise<Deploy> {
    const ended = async () => {
      const deploy = await this.reader.getDeploy(id);
      onRecord(deploy);
      return deploy.status === 'in_progress' ? undefined : deploy;
    };
    // A coordinator that stops answering ends the watch at once: its error says why.
    return pollUntil(`deploy ${id} to end`, ended, { timeoutMs, intervalMs: this.intervalMs, tolerate: () => false, ...(signal ? { signal } : {}) });
  }
}
