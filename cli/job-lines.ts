// How `grapevine status ID` shows a deploy's once-per-deploy job: who ran it, how it ended,
// and the tail of its output, indented under the hosts.
import type { Deploy } from '../shared/contract/schemas.js';

/** The job's lines, or one line saying the deploy skipped it; none when the deploy had no job. */
export function jobLines(deploy: Deploy): string[] {
  const { job } = deploy;
  if (!job) return deploy.runJob === false ? ['  job          not run by this deploy (a rollback runs it only with --run-job)'] : [];
  const took = job.endedAt === undefined ? '' : ` in ${((job.endedAt - job.startedAt) / 1000).toFixed(2)} s`;
  const attempt = job.attempt > 1 ? ` (attempt ${job.attempt}: taken over)` : '';
  const exit = job.exitCode === undefined || job.exitCode === null ? '' : `, exit ${job.exitCode}`;
  const lines = [`  job          ${job.service} ${job.state} on ${job.host}${took}${exit}${attempt}${job.error ? `  (${job.error})` : ''}`];
  for (const line of (job.output ?? '').split('\n').filter(Boolean).slice(-10)) lines.push(`    | ${line}`);
  return lines;
}
