// Docker Compose v2 (`docker compose`) through the docker-compose package, which spawns
// the docker CLI with an argument list and no shell. The package rejects with a plain
// {exitCode, err, out} and cannot be cancelled; both are made good here.
import { readFileSync, readdirSync } from 'node:fs';
import * as compose from 'docker-compose';
import { GrapevineError, errorMessage } from '../contract/errors.js';
import { TIMED_OUT, within } from '../contract/waiting.js';

/** How long compose gets to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

export interface ComposeProject {
  /** The compose file. */
  file: string;
  /** `--project-name`. */
  name: string;
}

export interface ComposeRun {
  /** Variables compose interpolates into the file, on top of the agent's own environment. */
  env: Record<string, string>;
  signal: AbortSignal;
  timeoutMs: number;
}

export interface ComposeService {
  name: string;
  state: string;
}

/** `docker compose` failed, was cancelled or ran out of time; the message ends with the last lines compose wrote to stderr. */
export class DockerComposeError extends GrapevineError {
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(message: string, details: { exitCode: number | null; stderr: string }, options?: { cause?: unknown }) {
    super('compose_failed', message, options);
    this.exitCode = details.exitCode;
    this.stderr = details.stderr;
  }
}

export class DockerComposeCli {
  /** `dockerSocket`: compose talks to the same engine as the Engine API calls, whatever DOCKER_HOST says. */
  constructor(private readonly dockerSocket: string) {}

  /** `up --detach --no-deps --pull never <service>`: only that service, only with an image already on the host. */
  async up(project: ComposeProject, service: string, run: ComposeRun): Promise<void> {
    await this.run('up', project, run, () =>
      compose.upOne(service, { ...this.options(project, run.env), commandOptions: ['--no-deps', ['--pull', 'never']] }),
    );
  }

  /** `ps --all`: the project's containers and their states. */
  async ps(project: ComposeProject, run: ComposeRun): Promise<ComposeService[]> {
    const result = await this.run('ps', project, run, () =>
      compose.ps({ ...this.options(project, run.env), commandOptions: ['--all', ['--format', 'json']] }),
    );
    return result.data.services.map(({ name, state }) => ({ name, state }));
  }

  /** `pull <service>`: the image the file names for the service, from its registry. */
  async pull(project: ComposeProject, service: string, run: ComposeRun): Promise<void> {
    await this.run('pull', project, run, () => compose.pullOne(service, this.options(project, run.env)));
  }

  /** `down --timeout <s>`: stops and removes the project's containers and network. */
  async down(project: ComposeProject, run: ComposeRun & { stopTimeoutS: number }): Promise<void> {
    await this.run('down', project, run, () =>
      compose.downAll({ ...this.options(project, run.env), commandOptions: [['--timeout', String(run.stopTimeoutS)]] }),
    );
  }

  private options(project: ComposeProject, env: Record<string, string>): compose.IDockerComposeOptions {
    return {
      config: project.file,
      composeOptions: [['--project-name', project.name]],
      // The package hands `env` to the child as its whole environment: start from the agent's own, as a shell would.
      env: { ...process.env, DOCKER_HOST: `unix://${this.dockerSocket}`, ...env },
      // Only the tail of stderr is ever reported.
      maxOutputLength: 64 * 1024,
    };
  }

  /** Runs one compose command; ends it (SIGTERM, then SIGKILL) when `run.signal` fires or `run.timeoutMs` passes. */
  private async run<T>(command: string, project: ComposeProject, run: ComposeRun, start: () => Promise<T>): Promise<T> {
    const what = `docker compose ${command} (project ${project.name})`;
    run.signal.throwIfAborted();
    const deadline = AbortSignal.timeout(run.timeoutMs);
    const stop = AbortSignal.any([run.signal, deadline]);
    const running = start();
    const onStop = () => void endChild(command, project.name, running);
    stop.addEventListener('abort', onStop, { once: true });
    try {
      return await running;
    } catch (failure) {
      const stderr = (failure as { err?: unknown }).err;
      const details = { exitCode: exitCodeOf(failure), stderr: typeof stderr === 'string' ? stderr : '' };
      const tail = lastLines(details.stderr);
      if (run.signal.aborted) throw new DockerComposeError(`${what} was cancelled: ${errorMessage(run.signal.reason)}`, details, { cause: failure });
      if (deadline.aborted) throw new DockerComposeError(`${what} did not finish within ${Math.round(run.timeoutMs / 1000)} s`, details, { cause: failure });
      if (failure instanceof Error) throw new DockerComposeError(`${what} could not run: ${failure.message}`, details, { cause: failure });
      throw new DockerComposeError(`${what} exited with code ${details.exitCode}: ${tail || 'no output on stderr'}`, details, { cause: failure });
    } finally {
      stop.removeEventListener('abort', onStop);
    }
  }
}

/**
 * Ends the compose process this agent started for `command` on `project`. The package gives
 * no handle on its child, so it is found among this process's own children by its arguments.
 */
async function endChild(command: string, project: string, running: Promise<unknown>): Promise<void> {
  const settled = running.then(
    () => undefined,
    () => undefined,
  );
  const signal = (name: NodeJS.Signals) => {
    for (const pid of ownChildren()) {
      if (isComposeRun(pid, command, project)) {
        try {
          process.kill(pid, name);
        } catch {
          // it exited between the look and the signal
        }
      }
    }
  };
  signal('SIGTERM');
  if ((await within(settled, STOP_GRACE_MS)) === TIMED_OUT) signal('SIGKILL');
}

function ownChildren(): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent id is the second field after the command name, which is in parentheses and may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) children.push(Number(entry));
    } catch {
      // the process ended while the list was read
    }
  }
  return children;
}

function isComposeRun(pid: number, command: string, project: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const projectAt = argv.indexOf('--project-name');
    return argv[1] === 'compose' && projectAt > 0 && argv[projectAt + 1] === project && argv.includes(command);
  } catch {
    return false;
  }
}

function exitCodeOf(failure: unknown): number | null {
  const code = (failure as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' ? code : null;
}

/** The last `count` non-empty lines of `text`, joined: where compose says what went wrong. */
export function lastLines(text: string, count = 3): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' | ');
}
