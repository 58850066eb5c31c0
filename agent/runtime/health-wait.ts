// Waits for a container's Docker health check: the engine's event stream wakes the
// wait as soon as the status changes; an inspect covers what happened before it.
import type { DockerEngine } from './docker-engine.js';
import { DeployStepError } from '../../shared/errors.js';

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

/** Resolves when healthy (or running, for an image without a health check); rejects on unhealthy, exit or timeout. */
export async function waitForHealth(docker: DockerEngine, id: string, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const short = id.slice(0, 12);
  const stream = await docker.events({ type: ['container'], container: [id], event: ['health_status', 'die', 'destroy'] });
  // Subscribed before the first inspect, so no change between the two can be missed.
  const changes = new ChangeCounter(stream, signal);
  try {
    for (;;) {
      const seen = changes.count;
      const state = await snapshot(docker, id);
      if (!state.running) throw new DeployStepError('health', `container ${short} exited with code ${state.exitCode}`);
      if (state.health === undefined || state.health === 'healthy') return;
      if (state.health === 'unhealthy') {
        throw new DeployStepError('health', `container ${short} is unhealthy: ${state.lastOutput || 'health check failed'}`);
      }
      if (!(await changes.after(seen))) {
        throw new DeployStepError('health', `container ${short} was not healthy within ${Math.round(timeoutMs / 1000)} s`);
      }
    }
  } finally {
    changes.close();
  }
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
