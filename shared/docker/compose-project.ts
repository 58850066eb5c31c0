// `docker compose ps` and `down`, which only tests and clean-up use, through the
// docker-compose package. Kept apart from compose-cli.ts so the agent, which imports only
// `up`, does not carry the package. The package's plain-object rejections ({exitCode, err,
// out}) are made DockerComposeErrors here.
import * as compose from 'docker-compose';
import { errorMessage } from '../contract/errors.js';
import { TIMED_OUT, untilAborted, within } from '../contract/waiting.js';
import { DockerComposeError, lastLines, type ComposeProject, type ComposeRun } from './compose-cli.js';

export interface ComposeService {
  name: string;
  state: string;
}

export class DockerComposeProjectCli {
  /** `dockerSocket`: compose talks to the same engine as the Engine API calls, whatever DOCKER_HOST says. */
  constructor(private readonly dockerSocket: string) {}

  /** `ps --all`: the project's containers and their states. */
  async ps(project: ComposeProject, run: ComposeRun): Promise<ComposeService[]> {
    const result = await this.run('ps', project, run, () =>
      compose.ps({ ...this.options(project, run.env), commandOptions: ['--all', ['--format', 'json']] }),
    );
    return result.data.services.map(({ name, state }) => ({ name, state }));
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
      // The package hands `env` to the child as its whole environment (compose needs PATH and HOME): start from this process's own, as a shell would.
      env: { ...process.env, DOCKER_HOST: `unix://${this.dockerSocket}`, ...env },
      // Only the tail of stderr is ever reported.
      maxOutputLength: 64 * 1024,
    };
  }

  /**
   * Runs one compose command through the package, bounded by `run.timeoutMs` and `run.signal`.
   * The package cannot stop its child: past the bound the command is abandoned, not killed.
   */
  private async run<T>(command: string, project: ComposeProject, run: ComposeRun, start: () => Promise<T>): Promise<T> {
    const what = `docker compose ${command} (project ${project.name})`;
    run.signal.throwIfAborted();
    const noDetails = { exitCode: null, stderr: '' };
    let outcome: T | typeof TIMED_OUT;
    try {
      outcome = await untilAborted(within(start(), run.timeoutMs), run.signal, () => undefined);
    } catch (failure) {
      if (run.signal.aborted && failure === run.signal.reason) {
        throw new DockerComposeError(`${what} was cancelled: ${errorMessage(failure)}`, noDetails, { cause: failure });
      }
      const stderr = (failure as { err?: unknown }).err;
      const details = { exitCode: exitCodeOf(failure), stderr: typeof stderr === 'string' ? stderr : '' };
      if (failure instanceof Error) throw new DockerComposeError(`${what} could not run: ${failure.message}`, details, { cause: failure });
      throw new DockerComposeError(`${what} exited with code ${details.exitCode}: ${lastLines(details.stderr) || 'no output on stderr'}`, details, { cause: failure });
    }
    if (outcome === TIMED_OUT) throw new DockerComposeError(`${what} did not finish within ${formatMs(run.timeoutMs)}`, noDetails);
    return outcome;
  }
}

function exitCodeOf(failure: unknown): number | null {
  const code = (failure as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' ? code : null;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
