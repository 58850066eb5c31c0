// The decisions of a new container's health gate, apart from how they are observed: a
// deadline to become healthy (Docker's check or the health URL, either counts), then a
// soak it must stay healthy through. Pure: the wait feeds it what it saw and when.

/** A URL that answered healthy must fail this many probes in a row (100 ms apart) to count as failing: one slow answer is not a verdict. */
export const PROBE_FAILURES_TO_FAIL = 3;
/** More restarts than this since the wait began is a restart loop, whatever the container says now. */
export const RESTART_LIMIT = 2;

/** What the engine says of the container at one moment. */
export interface ContainerObservation {
  running: boolean;
  /** The engine is about to start it again (a restart policy). */
  restarting: boolean;
  exitCode: number;
  restartCount: number;
  /** Docker's health status; undefined when the container has no health check. */
  health: 'starting' | 'healthy' | 'unhealthy' | undefined;
  /** When Docker's latest check began (ms since the epoch), if it ran one. */
  lastCheckStartedAt: number | undefined;
  lastOutput: string | undefined;
}

export type GateVerdict =
  | { kind: 'waiting' }
  /** Healthy for the first time: the soak has begun. */
  | { kind: 'soaking'; by: string }
  | { kind: 'passed'; by: string }
  | { kind: 'failed'; reason: string };

export interface HealthGateSettings {
  /** Short container id, for the reasons. */
  container: string;
  /** When the wait began (ms since the epoch). */
  startedAt: number;
  healthyDeadlineMs: number;
  /** 0: passed as soon as it is healthy. */
  minHealthyTimeMs: number;
  /** Whether a health URL is probed; without one and without a Docker check, running counts as healthy. */
  probed: boolean;
}

const WAITING: GateVerdict = { kind: 'waiting' };

export class HealthGate {
  private container: ContainerObservation | undefined;
  private firstRestartCount: number | undefined;
  private probeFailuresInRow = 0;
  private lastProbeFailure: string | undefined;
  private soakStartedAt: number | undefined;
  private soakRestartCount = 0;
  private soakBy = '';
  private verdict: GateVerdict = WAITING;

  constructor(private readonly settings: HealthGateSettings) {}

  /** The verdict so far: once passed or failed, it stays. */
  get current(): GateVerdict {
    return this.verdict;
  }

  observeContainer(state: ContainerObservation, now: number): GateVerdict {
    if (this.settled()) return this.verdict;
    this.firstRestartCount ??= state.restartCount;
    this.container = state;
    const { container } = this.settings;
    const restarts = state.restartCount - this.firstRestartCount;
    if (restarts > RESTART_LIMIT) {
      return this.fail(`container ${container} is restarting in a loop: ${restarts} restarts since it started, last exit code ${state.exitCode}`);
    }
    if (this.soakStartedAt !== undefined) {
      if (!state.running && !state.restarting) return this.failSoak(now, `the container exited with code ${state.exitCode}`);
      if (!state.running || state.restartCount > this.soakRestartCount) {
        return this.failSoak(now, `the container died (exit code ${state.exitCode}) and was restarted`);
      }
      // A verdict Docker reached before the soak began is stale: only a check begun since counts.
      if (state.health === 'unhealthy' && (state.lastCheckStartedAt ?? 0) > this.soakStartedAt) {
        return this.failSoak(now, `Docker's health check: ${state.lastOutput || 'failed'}`);
      }
      return this.tick(now);
    }
    if (!state.running && !state.restarting) return this.fail(`container ${container} exited with code ${state.exitCode}`);
    if (!state.running) return this.tick(now);
    if (state.health === 'healthy') return this.beginSoak(now, 'docker health check');
    if (state.health === undefined && !this.settings.probed) return this.beginSoak(now, 'running (no health check)');
    return this.tick(now);
  }

  observeProbe(passed: boolean, detail: string, now: number): GateVerdict {
    if (this.settled()) return this.verdict;
    if (passed) {
      this.probeFailuresInRow = 0;
      if (this.soakStartedAt === undefined && this.container?.running !== false) return this.beginSoak(now, 'health URL');
      return this.tick(now);
    }
    this.probeFailuresInRow += 1;
    this.lastProbeFailure = detail;
    if (this.soakStartedAt !== undefined && this.probeFailuresInRow >= PROBE_FAILURES_TO_FAIL) {
      return this.failSoak(now, `the health URL failed ${this.probeFailuresInRow} times in a row: ${detail}`);
    }
    return this.tick(now);
  }

  /** Time alone: the deadline passing fails a container not yet healthy; the soak ending passes it. */
  tick(now: number): GateVerdict {
    if (this.settled()) return this.verdict;
    const { startedAt, healthyDeadlineMs, minHealthyTimeMs } = this.settings;
    if (this.soakStartedAt !== undefined) {
      if (now - this.soakStartedAt >= minHealthyTimeMs) this.verdict = { kind: 'passed', by: this.soakBy };
      return this.verdict;
    }
    if (now - startedAt >= healthyDeadlineMs) {
      return this.fail(`container ${this.settings.container} was not healthy within ${seconds(healthyDeadlineMs)}; last verdict: ${this.lastVerdict()}`);
    }
    return this.verdict;
  }

  /** When the next decision falls due by time alone (the deadline or the soak's end). */
  get dueAt(): number {
    const { startedAt, healthyDeadlineMs, minHealthyTimeMs } = this.settings;
    return this.soakStartedAt === undefined ? startedAt + healthyDeadlineMs : this.soakStartedAt + minHealthyTimeMs;
  }

  private lastVerdict(): string {
    const parts: string[] = [];
    const state = this.container;
    if (state?.health !== undefined) parts.push(`Docker's check ${state.health}${state.lastOutput ? ` (${state.lastOutput})` : ''}`);
    if (this.settings.probed) parts.push(this.lastProbeFailure === undefined ? 'the health URL was not asked yet' : `the health URL ${this.lastProbeFailure}`);
    return parts.length > 0 ? parts.join('; ') : 'none';
  }

  private beginSoak(now: number, by: string): GateVerdict {
    this.soakStartedAt = now;
    this.soakRestartCount = this.container?.restartCount ?? 0;
    this.soakBy = by;
    // Failures before the soak say nothing about it.
    this.probeFailuresInRow = 0;
    this.verdict = { kind: 'soaking', by };
    return this.settings.minHealthyTimeMs === 0 ? this.tick(now) : this.verdict;
  }

  private failSoak(now: number, why: string): GateVerdict {
    const after = ((now - (this.soakStartedAt ?? now)) / 1000).toFixed(1);
    return this.fail(`container ${this.settings.container} turned unhealthy during the soak after ${after} s: ${why}`);
  }

  private fail(reason: string): GateVerdict {
    this.verdict = { kind: 'failed', reason };
    return this.verdict;
  }

  private settled(): boolean {
    return this.verdict.kind === 'passed' || this.verdict.kind === 'failed';
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
