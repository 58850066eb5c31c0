// What the once-per-deploy job (README, "The once-per-deploy job") needs: a fenced lease in
// the group's shared state, so exactly one host runs it, and a way to run it on the host.
import type { Logger } from '../contract/logger.js';
import type { JobRecord } from '../contract/schemas.js';
import type { DeployContext } from './deploy-context.js';
import type { DeployGroup } from './fleet-state.js';

/** How the job ended, as recorded for every host of the deploy to read. */
export type JobOutcome = JobRecord & { state: 'succeeded' | 'failed' };

/** The job lease one host holds while it runs the job: renewed in the background, lost when another host could take it. */
export interface JobLease {
  /** Which taking of the job this is: 1 for the first, more after a host's lease lapsed. */
  readonly attempt: number;
  /** Fires the moment the lease is lost (it lapsed, or Redis could not renew it in time). */
  readonly signal: AbortSignal;
  /** Records the outcome only while this lease still holds the job, and frees it; false when the lease was lost. */
  record(outcome: JobOutcome): Promise<boolean>;
  /** Frees the lease without an outcome (the host stands down): another host takes the job. Never rejects. */
  release(): Promise<void>;
}

export type JobClaim =
  | { kind: 'done'; outcome: JobOutcome }
  | { kind: 'claimed'; lease: JobLease }
  /** Another host holds the job's lease: its token names the host. */
  | { kind: 'running'; holder: string }
  | { kind: 'broken' }
  | { kind: 'stopped' };

export interface JobClaimOptions {
  group: DeployGroup;
  deployId: string;
  tag: string;
  holder: string;
  logger: Logger;
}

export interface JobLocks {
  /** One look at the deploy's job: its outcome, or the lease for this host, or who holds it. */
  claim(options: JobClaimOptions): Promise<JobClaim>;
}

/** What the job's container said: its exit code (null when it was stopped) and the tail of its output. */
export interface JobRun {
  exitCode: number | null;
  output: string;
}

export interface JobContainer {
  /** `docker compose run --rm SERVICE` of the role's project with `image`; resolves with how it exited. */
  runJob(role: string, image: string, env: Record<string, string>, context: DeployContext & { timeoutMs: number }): Promise<JobRun>;
}
