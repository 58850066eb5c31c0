// Waits for a container's Docker health check: the engine's event stream wakes the
// wait as soon as the status changes; an inspect covers what happened before it. With a
// health URL, the agent also asks the app itself, every 100 ms, and a 2xx answer counts
// as healthy without waiting for Docker's next run of the check (1 s apart at best, and
// each run is a process started in the container). Docker's verdict of unhealthy, or the
// container exiting, still fails the wait.
import { get as httpGet } from 'node:http';
import type { Logger } from '../contract/logger.js';
import { DeployStepError, errorMessage } from '../contract/errors.js';
import { pollUntil } from '../contract/waiting.js';
import type { DockerEngineApi, EngineEvent } from './engine-api.js';

const PROBE_INTERVAL_MS = 100;
const PROBE_TIMEOUT_MS = 1_000;

export interface HealthWait {
  container: string;
  signal: AbortSignal;
  timeoutMs: number;
  probeUrl?: string;
  logger: Logger;
}

interface HealthSnapshot {
  running: boolean;
  exitCode: number;
  health: string | undefined;
  lastOutput: string | undefined;
}

async function snapshot(engine: DockerEngineApi, id: string): Promise<HealthSnapshot> {
  const { State } = await engine.inspect(id);
  const log = State.Health?.Log ?? [];
  return {
    running: State.Running,
    exitCode: State.ExitCode,
    health: State.Health?.Status,
    lastOutput: log[log.length - 1]?.Output?.trim(),
  };
}

/**
 * Resolves when healthy (or running, for an image without a health check), or when
 * `probeUrl` answers 2xx while the container runs; rejects on unhealthy, exit or timeout.
 * `signal` carries the deadline; `timeoutMs` only names it in the error.
 */
export async function waitForHealth(engine: DockerEngineApi, wait: HealthWait): Promise<void> {
  try {
    await watchHealth(engine, wait);
  } catch (error) {
    if (error instanceof DeployStepError) throw error;
    // An inspect or the event stream failing: the host's report must still name the step.
    const short = wait.container.slice(0, 12);
    const message = wait.signal.aborted
      ? `container ${short} was not healthy within ${Math.round(wait.timeoutMs / 1000)} s`
      : `could not watch container ${short}: ${errorMessage(error)}`;
    throw new DeployStepError('health', message, { cause: error });
  }
}

async function watchHealth(engine: DockerEngineApi, wait: HealthWait): Promise<void> {
  const { container, signal, timeoutMs, probeUrl, logger } = wait;
  const short = container.slice(0, 12);
  const listening = new AbortController();
  const events = await engine.events(
    { type: ['container'], container: [container], event: ['health_status', 'die', 'destroy'] },
    AbortSignal.any([signal, listening.signal]),
  );
  // Subscribed before the first inspect, so no change between the two can be missed.
  const changes = new ChangeCounter(signal);
  void changes.follow(events);
  let probePassed = false;
  if (probeUrl !== undefined) {
    void probeUntilHealthy(probeUrl, AbortSignal.any([signal, listening.signal]), timeoutMs).then((passed) => {
      if (!passed) return;
      probePassed = true;
      changes.poke();
    });
  }
  try {
    for (;;) {
      const seen = changes.count;
      const state = await snapshot(engine, container);
      if (!state.running) throw new DeployStepError('health', `container ${short} exited with code ${state.exitCode}`);
      if (state.health === 'unhealthy') {
        throw new DeployStepError('health', `container ${short} is unhealthy: ${state.lastOutput || 'health check failed'}`);
      }
      if (state.health === undefined || state.health === 'healthy' || probePassed) {
        logger.info({ container: short, by: probePassed ? 'health URL' : state.health === undefined ? 'running' : 'docker health check' }, 'container healthy');
        return;
      }
      if (!(await changes.after(seen))) {
        if (changes.lost !== undefined) throw new DeployStepError('health', `lost the engine's events while waiting for container ${short}: ${changes.lost}`);
        throw new DeployStepError('health', `container ${short} was not healthy within ${Math.round(timeoutMs / 1000)} s`);
      }
    }
  } finally {
    listening.abort();
  }
}

/** Asks `url` every PROBE_INTERVAL_MS until it answers 2xx (true), or `signal` fires or `timeoutMs` passes (false). */
async function probeUntilHealthy(url: string, signal: AbortSignal, timeoutMs: number): Promise<boolean> {
  try {
    return await pollUntil('the health URL to answer 2xx', async () => ((await answers2xx(url, signal)) ? true : undefined), {
      timeoutMs,
      intervalMs: PROBE_INTERVAL_MS,
      signal,
    });
  } catch {
    return false;
  }
}

/** One GET of `url`: whether it answered 2xx within PROBE_TIMEOUT_MS. */
function answers2xx(url: string, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: PROBE_TIMEOUT_MS, signal }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Counts engine events; `after(n)` resolves true once more than n arrived, false when the wait must end. */
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

  after(seen: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.count > seen) resolve(true);
        else if (this.ended || this.signal.aborted) resolve(false);
        else return;
        this.waiter = undefined;
      };
      this.waiter = check;
      check();
    });
  }

  private end(): void {
    this.ended = true;
    this.waiter?.();
  }
}
