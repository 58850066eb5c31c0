// Which report of the deploy's once-per-deploy job the deploy record keeps: the newest taking
// of the job, and an outcome over a run still going, so a late report of a host whose lease
// lapsed never hides the outcome of the host that took the job over.
import type { JobRecord } from '../shared/contract/schemas.js';

/** The job a host reported, when the record should keep it instead of `stored`; undefined when not. */
export function jobToKeep(stored: JobRecord | undefined, reported: JobRecord | undefined): JobRecord | undefined {
  if (!reported) return undefined;
  if (!stored) return reported;
  if (reported.attempt !== stored.attempt) return reported.attempt > stored.attempt ? reported : undefined;
  if (stored.state !== 'running') return undefined;
  return reported.state !== 'running' || reported.host !== stored.host ? reported : undefined;
}
