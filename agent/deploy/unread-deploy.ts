// A host that never read the deploy would never count itself out, and the deploy would wait
// for it until its deadline: it says it errored instead, so the deploy ends (`partial`) once
// the rest have. A coordinator that does not count the host as a target refuses the report.
import type { UnreachableError } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import { ProgressReporter, type ReportSink } from './progress-reporter.js';

/** How long the report is kept trying: the coordinator that did not answer may be back. */
const UNREAD_REPORT_MS = 10 * 60_000;

export interface UnreadDeploy {
  sink: ReportSink;
  host: string;
  id: string;
  receivedAt: number;
  error: UnreachableError;
  signal: AbortSignal;
  logger: Logger;
  now: () => number;
}

export async function reportUnread({ sink, host, id, receivedAt, error, signal, logger, now }: UnreadDeploy): Promise<void> {
  const reporter = new ProgressReporter(sink, id, logger, { deadlineAt: now() + UNREAD_REPORT_MS, signal, now });
  const steps = [{ step: 'received' as const, at: receivedAt }];
  await reporter.finish({ host, state: 'errored', steps, error: `could not read deploy ${id}: ${error.message}`, endedAt: now() });
}
