// `docker compose up` (and `run` for the once-per-deploy job), on every host's deploy
// path, never through a shell. It runs through execa: the docker-compose package
// resolves 500 ms after compose exits (half a second per host per wave) and cannot stop
// a compose run when the host stands down. The commands only tests and clean-up use
// live in compose-project.ts, so the agent does not carry the package. Compose gets only a
// few of the agent's variables: it interpolates its environment into the compose file, which
// would hand the agent's token or keys to an app's container.
import { execa } from 'execa';
import { GrapevineError, TimeoutError, UnreachableError, errorMessage } from '../contract/errors.js';
import { COMPOSE_INHERITED_ENV, inheritedEnv } from '../contract/inherited-env.js';
import { saysNoAnswer } from './no-answer.js';

/** How long compose gets to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

export interface ComposeProject {
  /** The compose file. */
  file: string;
  /** `--project-name`. */
  name: string;
}

export interface ComposeRun {
  /** Variables compose interpolates into the file, on top of the few it keeps of the agent's environment (COMPOSE_INHERITED_ENV). */
  env: Record<string, string>;
  signal: AbortSignal;
  timeoutMs: number;
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
  constructor(
    private readonly dockerSocket: string,
    private readonly agentEnv: Record<string, string | undefined> = process.env,
  ) {}

  /** `up --detach --no-deps --pull never <service>`: only that service, only with an image already on the host. */
  async up(project: ComposeProject, service: string, run: ComposeRun): Promise<void> {
    await this.exec('up', project, ['up', '--detach', '--no-deps', '--pull', 'never', service], run);
  }

  /** `stop`: the project's containers stop and stay, for a later `up` or `start`. */
  async stop(project: ComposeProject, run: ComposeRun): Promise<void> {
    await this.exec('stop', project, ['stop'], run);
  }

  private async exec(command: string, project: ComposeProject, commandArgs: string[], run: ComposeRun): Promise<void> {
    const what = `docker compose ${command} (project ${project.name})`;
    run.signal.throwIfAborted();
    const args = ['compose', '--project-name', project.name, '--file', project.file, ...commandArgs];
    const result = await execa('docker', args, {
      env: composeEnv(this.dockerSocket, run, this.agentEnv),
      extendEnv: false,
      cancelSignal: run.signal,
      timeout: run.timeoutMs,
      forceKillAfterDelay: STOP_GRACE_MS,
      stdin: 'ignore',
      reject: false,
    });
    if (!result.failed) return;
    const details = { exitCode: result.exitCode ?? null, stderr: result.stderr };
    if (result.isCanceled) throw new DockerComposeError(`${what} was cancelled: ${errorMessage(run.signal.reason)}`, details, { cause: result });
    if (result.timedOut) {
      const late = new TimeoutError(`${what} did not finish within ${Math.round(run.timeoutMs / 1000)} s`, { cause: result });
      throw new DockerComposeError(late.message, details, { cause: late });
    }
    const said = lastLines(details.stderr) || result.shortMessage || 'no output on stderr';
    // Compose could not reach the engine: no verdict on the image.
    if (saysNoAnswer(said)) throw new UnreachableError(`${what} could not reach the Docker engine: ${said}`, { cause: result });
    throw new DockerComposeError(`${what} exited with code ${details.exitCode}: ${said}`, details, { cause: result });
  }
}

/** How a one-off container ended: its exit code and the last lines it wrote. */
export interface ComposeRunResult {
  exitCode: number | null;
  output: string;
}

/** Lines of a job's output kept: enough to show why a migration failed, small enough for a report. */
const JOB_OUTPUT_LINES = 30;
/** Characters of a job's output kept, from its end. */
const JOB_OUTPUT_CHARS = 3_000;

/**
 * `run --rm --no-deps -T <service>`: a one-off container of the service (a migration),
 * removed once it exits. Resolves with its exit code and output tail whatever the code;
 * throws when compose could not reach the engine, was cancelled or ran out of time.
 */
export async function composeRun(
  dockerSocket: string,
  project: ComposeProject,
  service: string,
  run: ComposeRun,
  agentEnv: Record<string, string | undefined> = process.env,
): Promise<ComposeRunResult> {
  const what = `docker compose run ${service} (project ${project.name})`;
  run.signal.throwIfAborted();
  const args = ['compose', '--project-name', project.name, '--file', project.file, 'run', '--rm', '--no-deps', '--no-TTY', service];
  const result = await execa('docker', args, {
    env: composeEnv(dockerSocket, run, agentEnv),
    extendEnv: false,
    cancelSignal: run.signal,
    timeout: run.timeoutMs,
    forceKillAfterDelay: STOP_GRACE_MS,
    stdin: 'ignore',
    all: true,
    reject: false,
  });
  const output = tail(result.all ?? '');
  if (result.isCanceled) throw new DockerComposeError(`${what} was cancelled: ${errorMessage(run.signal.reason)}`, { exitCode: null, stderr: output }, { cause: result });
  if (result.timedOut) {
    // The job ran too long: a verdict on the job, not a service that did not answer.
    throw new DockerComposeError(`${what} did not finish within ${Math.round(run.timeoutMs / 1000)} s: ${lastLines(output)}`, { exitCode: null, stderr: output }, { cause: result });
  }
  if (result.failed && saysNoAnswer(lastLines(result.stderr))) {
    throw new UnreachableError(`${what} could not reach the Docker engine: ${lastLines(result.stderr)}`, { cause: result });
  }
  return { exitCode: result.exitCode ?? null, output };
}

/** Compose's whole environment: what it keeps of the agent's, the engine's socket, then the deploy's variables. */
export function composeEnv(dockerSocket: string, run: Pick<ComposeRun, 'env'>, agentEnv: Record<string, string | undefined>): Record<string, string> {
  return { ...inheritedEnv(COMPOSE_INHERITED_ENV, agentEnv), DOCKER_HOST: `unix://${dockerSocket}`, ...run.env };
}

function tail(text: string): string {
  const lines = text.split('\n').filter((line) => line.trim() !== '').slice(-JOB_OUTPUT_LINES).join('\n');
  return lines.length > JOB_OUTPUT_CHARS ? lines.slice(-JOB_OUTPUT_CHARS) : lines;
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
