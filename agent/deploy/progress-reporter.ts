// Sends a host's progress to the coordinator without holding up the deploy: each
// update replaces the one not yet sent, and only the final report is awaited.
import type { Logger } from '../../shared/contract/logger.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import { retry } from '../../shared/contract/waiting.js';

export interface ReportSink {
  report(deployId: string, report: HostReport): Promise<unknown>;
}

/** Pauses before the second and third try of a report. */
const RETRY_DELAYS_MS = [500, 1_000] as const;

export class ProgressReporter {
  private pending: HostReport | undefined;
  private sending: Promise<void> | undefined;

  constructor(
    private readonly sink: ReportSink,
    private readonly deployId: string,
    private readonly logger: Logger,
  ) {}

  update(report: HostReport): void {
    this.pending = structuredClone(report);
    this.sending ??= this.drain().finally(() => {
      this.sending = undefined;
    });
  }

  /** Sends the final report and waits until it is delivered or every attempt failed. */
  async finish(report: HostReport): Promise<void> {
    this.update(report);
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const report = this.pending;
      this.pending = undefined;
      await this.send(report);
    }
  }

  private async send(report: HostReport): Promise<void> {
    try {
      // Only a coordinator that did not answer is worth asking again; a refusal stays a refusal.
      await retry(() => this.sink.report(this.deployId, report), { delaysMs: RETRY_DELAYS_MS, retryIf: (error) => error instanceof UnreachableError });
    } catch (error) {
      this.logger.warn({ err: errorMessage(error), state: report.state }, 'could not report progress to the coordinator');
    }
  }
}
