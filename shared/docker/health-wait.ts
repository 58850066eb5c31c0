// Waits for a container's Docker health check: the engine's event stream wakes the
// wait as soon as the status changes; an inspect covers what happened before it. With a
// health URL, the agent also asks the app itself, every 100 ms, and a 2xx answer counts
// as healthy without waiting for Docker's next run of the check (1 s apart at best, and
// each run is a process started in the container). Docker's verdict of unhealthy, or the
// container exiting, still fails the wait.
import { get as httpGet } from 'node:http';
import type { DockerEngine } from './docker-engine.js';
import { DeployStepError } from '../contract/errors.js';

const PROBE_INTERVAL_MS = 100;
const PROBE_TIMEOUT_MS = 1_000;

interface HealthSnapshot {
  running: boolean;
  exitCode: number;
  health: string | undefined;
  lastOutput: string | undefined;
}

async function snapshot(docker: DockerEngine, id: string): Promise<HealthSnapshot> {
  const info = await docker.inspect(id);
  const log = info.State.Health?.Log ?? [];
  return {
    running: info.State.Running,
    exitCode: info.State.ExitCode,
    health: info.State.Health?.Status,
    lastOutput: log[log.length - 1]?.Output?.trim(),
  };
}

/**
 * Resolves when healthy (or running, for an image without a health check), or when
 * `probeUrl` answers 2xx while the container runs; rejects on unhealthy, exit or timeout.
 */
export async function waitForHealth(docker: DockerEngine, id: string, signal: AbortSignal, timeoutMs: number, probeUrl?: string): Promise<void> {
  const short = id.slice(0, 12);
  const stream = await docker.events({ type: ['container'], container: [id], event: ['health_status', 'die', 'destroy'] });
  // Subscribed before the first inspect, so no change between the two can be missed.
  const changes = new ChangeCounter(stream, signal);
  const probing = new AbortController();
  let probePassed = false;
  if (probeUrl !== undefined) {
    probeUntilHealthy(probeUrl, AbortSignal.any([signal, probing.signal]), () => {
      probePassed = true;
      changes.poke();
    });
  }
  try {
    for (;;) {
      const seen = changes.count;
      const state = await snapshot(docker, id);
      if (!state.running) throw new DeployStepError('health', `container ${short} exited with code ${state.exitCode}`);
      if (state.health === 'unhealthy') {
        throw new DeployStepError('health', `container ${short} is unhealthy: ${state.lastOutput || 'health check failed'}`);
      }
      if (state.health === undefined || state.health === 'healthy' || probePassed) return;
      if (!(await changes.after(seen))) {
        throw new DeployStepError('health', `container ${short} was not healthy within ${Math.round(timeoutMs / 1000)} s`);
      }
    }
  } finally {
    probing.abort();
    changes.close();
  }
}

/** Asks `url` every PROBE_INTERVAL_MS until it answers 2xx, then calls `onPass` once; stops when `signal` fires. */
function probeUntilHealthy(url: string, signal: AbortSignal, onPass: () => void): void {
  const again = () => {
    if (!signal.aborted) setTimeout(attempt, PROBE_INTERVAL_MS);
  };
  const attempt = () => {
    if (signal.aborted) return;
    let settled = false;
    const settle = (passed: boolean) => {
      if (settled) return;
      settled = true;
      if (passed && !signal.aborted) onPass();
      else again();
    };
    const req = httpGet(url, { agent: false, timeout: PROBE_TIMEOUT_MS, signal }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      settle(status >= 200 && status < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => settle(false));
  };
  attempt();
}

/** Counts events on a stream; `after(n)` resolves true once more than n arrived, false when the wait must end. */
class ChangeCounter {
  count = 0;
  private ended = false;
  private waiter: (() => void) | undefined;

  constructor(
    private readonly stream: NodeJS.ReadableStream,
    private readonly signal: AbortSignal,
  ) {
    stream.on('data', () => {
      this.count += 1;
      this.waiter?.();
    });
    const end = () => {
      this.ended = true;
      this.waiter?.();
    };
    stream.on('end', end);
    stream.on('error', end);
    signal.addEventListener('abort', end, { once: true });
  }

  /** Counts a change that did not come from the stream. */
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

  close(): void {
    (this.stream as unknown as { destroy?: () => void }).destroy?.();
  }
}
