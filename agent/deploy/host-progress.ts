// One host's report on a deploy as it grows: steps with their times, the slot, the
// counts and the outcome. Every change is published to the coordinator.
import { FINAL_HOST_STATES, type HostReport, type HostState, type HostStep, type JobRecord } from '../../shared/contract/schemas.js';
import type { ProgressReporter } from './progress-reporter.js';

/** The host's report as it grows; every change is published to the coordinator. */
export class HostProgress {
  private state: HostState = 'waiting';
  private slot: number | undefined;
  private epoch: number | undefined;
  private remaining: number | undefined;
  private error: string | undefined;
  private endedAt: number | undefined;
  private jobRecord: JobRecord | undefined;
  private readonly steps: Array<{ step: HostStep; at: number }> = [];

  constructor(
    private readonly host: string,
    /** Matching alive hosts this agent counted when the event reached it. */
    private readonly counted: number,
    private readonly now: () => number,
    private readonly reporter: ProgressReporter,
  ) {}

  step(step: HostStep, at = this.now()): void {
    if (!this.steps.some((s) => s.step === step)) this.steps.push({ step, at });
    this.publish();
  }

  tookSlot(slot: number, epoch: number): void {
    this.slot = slot;
    this.epoch = epoch;
    this.state = 'deploying';
    this.step('slot');
  }

  /** The deploy's job as this host ran it (undefined: it does not run it); the coordinator keeps it as the deploy's job. */
  job(record: JobRecord | undefined): void {
    this.jobRecord = record;
    this.publish();
  }

  /** Records the hosts still to finish after this one counted itself out. */
  countOut(remaining: number): void {
    this.remaining = remaining;
  }

  /** Whether the host reached a final state. */
  get ended(): boolean {
    return FINAL_HOST_STATES.has(this.state);
  }

  get countedOut(): boolean {
    return this.remaining !== undefined;
  }

  end(state: HostState, error?: string): void {
    this.state = state;
    this.error ??= error;
  }

  publish(): void {
    this.reporter.update(this.snapshot());
  }

  /** Stamps the end and sends the final report; `ended` has it first, since the coordinator may take long to take it. */
  async finish(ended?: (report: HostReport) => void): Promise<HostReport> {
    this.endedAt = this.now();
    const report = this.snapshot();
    ended?.(report);
    await this.reporter.finish(report);
    return report;
  }

  private snapshot(): HostReport {
    return {
      host: this.host,
      state: this.state,
      steps: [...this.steps],
      ...(this.slot !== undefined ? { slot: this.slot } : {}),
      ...(this.epoch !== undefined ? { epoch: this.epoch } : {}),
      counted: this.counted,
      ...(this.remaining !== undefined ? { remaining: this.remaining } : {}),
      ...(this.error !== undefined ? { error: this.error } : {}),
      ...(this.endedAt !== undefined ? { endedAt: this.endedAt } : {}),
      ...(this.jobRecord !== undefined ? { job: this.jobRecord } : {}),
    };
  }
}
