// Docker Compose v2 (`docker compose`), never through a shell. `up`, on every host's deploy
// path, runs through execa: the docker-compose package resolves 500 ms after compose exits
// (half a second per host per wave) and cannot stop a compose run when the host stands
// down. `ps`, `pull` and `down`, for tests and clean-up, go through the package, whose
// plain-object rejections ({exitCode, err, out}) are made errors here.
import { execa } from 'execa';
import * as compose from 'docker-compose';
import { GrapevineError, errorMessage } from '../contract/errors.js';

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
    const what = `docker compose up (project ${project.name})`;
    run.signal.throwIfAborted();
    const args = ['compose', '--project-name', project.name, '--file', project.file, 'up', '--detach', '--no-deps', '--pull', 'never', service];
    const result = await execa('docker', args, {
      env: { DOCKER_HOST: `unix://${this.dockerSocket}`, ...run.env },
      cancelSignal: run.signal,
      timeout: run.timeoutMs,
      forceKillAfterDelay: STOP_GRACE_MS,
      stdin: 'ignore',
      reject: false,
    });
    if (!result.failed) return;
    const details = { exitCode: result.exitCode ?? null, stderr: result.stderr };
    if (result.isCanceled) throw new DockerComposeError(`${what} was cancelled: ${errorMessage(run.signal.reason)}`, details, { cause: result });
    if (result.timedOut) throw new DockerComposeError(`${what} did not finish within ${Math.round(run.timeoutMs / 1000)} s`, details, { cause: result });
    throw new DockerComposeError(`${what} exited with code ${details.exitCode}: ${lastLines(details.stderr) || result.shortMessage}`, details, { cause: result });
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

  /** Runs one compose command through the package; its rejection becomes a DockerComposeError. */
  private async run<T>(command: string, project: ComposeProject, run: ComposeRun, start: () => Promise<T>): Promise<T> {
    const what = `docker compose ${command} (project ${project.name})`;
    run.signal.throwIfAborted();
    try {
      return await start();
    } catch (failure) {
      const stderr = (failure as { err?: unknown }).err;
      const details = { exitCode: exitCodeOf(failure), stderr: typeof stderr === 'string' ? stderr : '' };
      if (failure instanceof Error) throw new DockerComposeError(`${what} could not run: ${failure.message}`, details, { cause: failure });
      throw new DockerComposeError(`${what} exited with code ${details.exitCode}: ${lastLines(details.stderr) || 'no output on stderr'}`, details, { cause: failure });
    }
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
