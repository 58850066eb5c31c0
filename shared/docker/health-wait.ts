// Runs a container's health gate (health-gate.ts) against the engine: the event stream
// wakes the wait as soon as Docker's verdict or the container's life changes, an inspect
// covers what happened before it, and with a health URL the agent also asks the app itself
// every 100 ms (a 2xx answer counts without waiting for Docker's next run of its check,
// 1 s apart at best and a process started in the container each).
import { get as httpGet } from 'node:http';
import type { Logger } from '../contract/logger.js';
import { DeployStepError, errorMessage } from '../contract/errors.js';
import { pause } from '../contract/waiting.js';
import type { ContainerDetails, DockerEngineApi, EngineEvent } from './engine-api.js';
import { HealthGate, type ContainerObservation, type GateVerdict } from './health-gate.js';

const PROBE_INTERVAL_MS = 100;
const PROBE_TIMEOUT_MS = 1_000;
/** An inspect at least this often, should the event stream miss a change. */
const INSPECT_AT_LEAST_EVERY_MS = 2_000;

export interface HealthWait {
  container: string;
  /** The caller's bound (its step, the agent stopping): ends the wait without a verdict on the container. */
  signal: AbortSignal;
  /** How long the container has to become healthy; unhealthy verdicts before it do not fail it. */
  healthyDeadlineMs: number;
  /** How long it must then stay healthy (the soak); 0 or unset: healthy once is enough. */
  minHealthyTimeMs?: number;
  probeUrl?: string;
  logger: Logger;
}

function observe(details: ContainerDetails): ContainerObservation {
  const { State } = details;
  const log = State.Health?.Log ?? [];
  const last = log[log.length - 1];
  const status = State.Health?.Status;
  const startedAt = last?.Start === undefined ? Number.NaN : Date.parse(last.Start);
  return {
    running: State.Running,
    restarting: State.Restarting,
    exitCode: State.ExitCode,
    restartCount: details.RestartCount,
    health: status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : undefined,
    lastCheckStartedAt: Number.isNaN(startedAt) ? undefined : startedAt,
    lastOutput: last?.Output?.trim(),
  };
}

/**
 * Resolves once the container passed its gate: healthy (Docker's check or `probeUrl`
 * answering 2xx) before `healthyDeadlineMs`, then healthy for `minHealthyTimeMs`. Rejects
 * with DeployStepError('health', reason) when it exits, restarts in a loop, is not healthy
 * by the deadline or turns unhealthy during the soak; the reason names which.
 */
export async function waitForHealth(engine: DockerEngineApi, wait: HealthWait): Promise<void> {
  try {
    await watchHealth(engine, wait);
  } catch (error) {
    if (error instanceof DeployStepError) throw error;
    // An inspect or the event stream failing: the host's report must still name the step.
    const short = wait.container.slice(0, 12);
    const message = wait.signal.aborted
      ? `the wait for container ${short} was stopped: ${errorMessage(wait.signal.reason)}`
      : `could not watch container ${short}: ${errorMessage(error)}`;
    throw new DeployStepError('health', message, { cause: wait.signal.aborted ? wait.signal.reason : error });
  }
}

async function watchHealth(engine: DockerEngineApi, wait: HealthWait): Promise<void> {
  const { container, signal, healthyDeadlineMs, minHealthyTimeMs = 0, probeUrl, logger } = wait;
  const short = container.slice(0, 12);
  const startedAt = Date.now();
  const gate = new HealthGate({ container: short, startedAt, healthyDeadlineMs, minHealthyTimeMs, probed: probeUrl !== undefined });
  const listening = new AbortController();
  const ended = AbortSignal.any([signal, listening.signal]);
  const events = await engine.events(
    { type: ['container'], container: [container], event: ['health_status', 'die', 'start', 'destroy'] },
    ended,
  );
  // Subscribed before the first inspect, so no change between the two can be missed.
  const changes = new ChangeCounter(signal);
  void changes.follow(events);
  if (probeUrl !== undefined) {
    void probeWhileWaiting(probeUrl, ended, (passed, detail) => {
      const before = gate.current.kind;
      // A probe only wakes the wait when it changed the verdict: 10 inspects a second would be waste.
      if (gate.observeProbe(passed, detail, Date.now()).kind !== before) changes.poke();
    });
  }
  let soaking = false;
  try {
    // Bounded: each round waits for a change, the next due decision or INSPECT_AT_LEAST_EVERY_MS.
    const rounds = Math.ceil((healthyDeadlineMs + minHealthyTimeMs) / 10) + 1_000;
    for (let round = 0; round < rounds; round++) {
      const seen = changes.count;
      let verdict: GateVerdict = gate.current;
      if (verdict.kind === 'waiting' || verdict.kind === 'soaking') verdict = gate.observeContainer(observe(await engine.inspect(container)), Date.now());
      if (verdict.kind === 'failed') throw new DeployStepError('health', verdict.reason);
      if (verdict.kind === 'passed') {
        logger.info({ container: short, by: verdict.by, soakMs: minHealthyTimeMs, ms: Date.now() - startedAt }, 'container healthy');
        return;
      }
      if (verdict.kind === 'soaking' && !soaking) {
        soaking = true;
        logger.info({ container: short, by: verdict.by, soakMs: minHealthyTimeMs }, 'container healthy; it must stay healthy through the soak');
      }
      const dueInMs = Math.max(0, Math.min(gate.dueAt - Date.now(), INSPECT_AT_LEAST_EVERY_MS));
      if (!(await changes.after(seen, dueInMs))) {
        signal.throwIfAborted();
        if (changes.lost !== undefined) throw new DeployStepError('health', `lost the engine's events while waiting for container ${short}: ${changes.lost}`);
      }
    }
    throw new DeployStepError('health', `container ${short}: the health wait ran out of rounds`);
  } finally {
    listening.abort();
  }
}

/** Asks `url` every PROBE_INTERVAL_MS until `signal` fires, telling `report` each answer. */
async function probeWhileWaiting(url: string, signal: AbortSignal, report: (passed: boolean, detail: string) => void): Promise<void> {
  // Bounded by the signal, which the wait always fires when it ends.
  while (!signal.aborted) {
    const answer = await probe(url, signal);
    if (signal.aborted) return;
    report(answer.passed, answer.detail);
    await pause(PROBE_INTERVAL_MS, signal).catch(() => undefined);
  }
}

/** One GET of `url`: whether it answered 2xx within PROBE_TIMEOUT_MS, and what it answered. */
function probe(url: string, signal: AbortSignal): Promise<{ passed: boolean; detail: string }> {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: PROBE_TIMEOUT_MS, signal }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ passed: status >= 200 && status < 300, detail: `answered ${status}` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)));
    req.on('error', (error) => resolve({ passed: false, detail: `did not answer: ${errorMessage(error)}` }));
  });
}

/** Counts engine events and other wake-ups of the wait. */
class ChangeCounter {
  count = 0;
  /** Why the event stream ended before the wait did, if it did. */
  lost: string | undefined;
  private ended = false;
  private waiter: (() => void) | undefined;

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.end(), { once: true });
  }

  /** Counts every event until the stream ends; a stream that fails ends the wait as its deadline would. */
  async follow(events: AsyncIterable<EngineEvent>): Promise<void> {
    let why = 'the engine closed the stream';
    try {
      for await (const _event of events) this.poke();
    } catch (error) {
      why = errorMessage(error);
    }
    if (!this.ended && !this.signal.aborted) this.lost = why;
    this.end();
  }

  /** Counts a change. */
  poke(): void {
    this.count += 1;
    this.waiter?.();
  }

  /** True once more than `seen` changes arrived; false after `timeoutMs`, or when the wait must end. */
  after(seen: number, timeoutMs: number): Promise<boolean> {
    const timer = AbortSignal.timeout(timeoutMs);
    return new Promise((resolve) => {
      const check = () => {
        if (this.count > seen) resolve(true);
        else if (this.ended || this.signal.aborted || timer.aborted) resolve(false);
        else return;
        this.waiter = undefined;
        timer.removeEventListener('abort', check);
      };
      this.waiter = check;
      timer.addEventListener('abort', check, { once: true });
      check();
    });
  }

  private end(): void {
    this.ended = true;
    this.waiter?.();
  }
}
