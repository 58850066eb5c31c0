// Replaces a role's container with Docker Compose v2 (`docker compose up`), and uses the
// Engine API to pull images and to watch the container's health. A blue/green role's colour
// is its own compose project of the same file (`<project>-blue`), with its own port.
import { roleColours, type RoleConfig } from '../contract/role-config.js';
import type { Colour } from '../contract/strategy.js';
import { DeployStepError, TimeoutError, errorMessage } from '../contract/errors.js';
import type { ContainerRuntime, HealthWaitOptions } from '../ports/container-runtime.js';
import type { DeployContext } from '../ports/deploy-context.js';
import { DockerComposeCli, type ComposeProject } from './compose-cli.js';
import { DockerEngineApi } from './engine-api.js';
import { waitForHealth } from './health-wait.js';

/** How long `docker compose up` may take: it creates and starts the container; the health gate's deadline runs after it. */
const UP_TIMEOUT_MS = 2 * 60_000;
/** How long an image pull may take unless the options say otherwise: a large image over a slow link, not a registry that hangs forever. */
const PULL_TIMEOUT_MS = 10 * 60_000;

export interface DockerComposeRuntimeOptions {
  node: string;
  roles: Record<string, RoleConfig>;
  dockerSocket: string;
  /** The bound on one image pull; PULL_TIMEOUT_MS unless given. */
  pullTimeoutMs?: number;
}

export class DockerComposeRuntime implements ContainerRuntime {
  private readonly engine: DockerEngineApi;
  private readonly compose: DockerComposeCli;

  constructor(private readonly options: DockerComposeRuntimeOptions) {
    this.engine = new DockerEngineApi(options.dockerSocket);
    this.compose = new DockerComposeCli(options.dockerSocket);
  }

  async runningImage(role: string, colour?: Colour): Promise<string | null> {
    const container = await this.findContainer(role, colour);
    if (!container) return null;
    const info = await this.engine.inspect(container);
    return info.State.Running ? info.Config.Image : null;
  }

  async pull(image: string, { signal, logger }: DeployContext): Promise<void> {
    const startedAt = Date.now();
    const timeoutMs = this.options.pullTimeoutMs ?? PULL_TIMEOUT_MS;
    const deadline = AbortSignal.timeout(timeoutMs);
    try {
      await this.engine.pull(image, AbortSignal.any([signal, deadline]));
    } catch (error) {
      if (deadline.aborted && !signal.aborted) {
        // A registry too slow to finish is no verdict on the image either.
        const late = new TimeoutError(`did not finish pulling within ${Math.round(timeoutMs / 1000)} s`, { cause: error });
        throw new DeployStepError('pull', `cannot pull ${image}: ${late.message}`, { cause: late });
      }
      throw new DeployStepError('pull', `cannot pull ${image}: ${errorMessage(error)}`, { cause: error });
    }
    logger.info({ image, ms: Date.now() - startedAt }, 'image pulled');
  }

  async up(role: string, image: string, { signal, logger }: DeployContext, colour?: Colour): Promise<void> {
    const settings = this.role(role);
    const startedAt = Date.now();
    try {
      await this.compose.up(this.project(role, colour), settings.service, {
        env: { GRAPEVINE_IMAGE: image, GRAPEVINE_NODE: this.options.node, GRAPEVINE_ROLE: role, ...this.colourEnv(role, colour) },
        signal,
        timeoutMs: UP_TIMEOUT_MS,
      });
    } catch (error) {
      throw new DeployStepError('up', `cannot start ${image}: ${errorMessage(error)}`, { cause: error });
    }
    logger.info({ image, service: settings.service, colour, ms: Date.now() - startedAt }, 'container started');
  }

  async stop(role: string, { signal, logger }: DeployContext, colour?: Colour): Promise<void> {
    const project = this.project(role, colour);
    // Compose reads the whole file to stop a project, image included: it gets what runs.
    const image = await this.runningImage(role, colour);
    if (image === null) return;
    const startedAt = Date.now();
    try {
      await this.compose.stop(project, {
        env: { GRAPEVINE_IMAGE: image, GRAPEVINE_NODE: this.options.node, GRAPEVINE_ROLE: role, ...this.colourEnv(role, colour) },
        signal,
        timeoutMs: UP_TIMEOUT_MS,
      });
    } catch (error) {
      throw new DeployStepError('up', `cannot stop ${project.name}: ${errorMessage(error)}`, { cause: error });
    }
    logger.info({ project: project.name, ms: Date.now() - startedAt }, 'containers stopped');
  }

  async waitHealthy(role: string, { signal, logger }: DeployContext, options: HealthWaitOptions = {}, colour?: Colour): Promise<void> {
    const container = await this.findContainer(role, colour);
    if (!container) throw new DeployStepError('health', `no container of ${this.project(role, colour).name} is running`);
    const { healthyDeadlineMs, minHealthyTimeMs } = this.role(role);
    const healthUrl = this.healthUrl(role, colour);
    await waitForHealth(this.engine, {
      container,
      signal,
      healthyDeadlineMs,
      minHealthyTimeMs: options.soak ? minHealthyTimeMs : 0,
      ...(healthUrl === undefined ? {} : { probeUrl: healthUrl }),
      logger,
    });
  }

  async imageDigest(image: string, { signal }: DeployContext): Promise<string | null> {
    const details = await this.engine.inspectImage(image, signal);
    if (!details) return null;
    // The digest of the repository the image was pulled from names it wherever it is pulled; the id is local.
    const [repository] = image.split('@')[0]!.split(/:(?=[^/]*$)/);
    return details.RepoDigests?.find((digest) => digest.startsWith(`${repository}@`)) ?? details.RepoDigests?.[0] ?? details.Id;
  }

  private role(role: string): RoleConfig {
    const settings = this.options.roles[role];
    if (!settings) throw new DeployStepError('up', `this host has no settings for role ${role}`);
    return settings;
  }

  private project(role: string, colour?: Colour): ComposeProject {
    const settings = this.role(role);
    const name = settings.project ?? `${this.options.node}-${role}`.toLowerCase();
    return { file: settings.compose, name: colour === undefined ? name : `${name}-${colour}` };
  }

  /** A colour's own settings; asking for a colour of a role without colours is the caller's mistake, named. */
  private colour(role: string, colour: Colour) {
    const colours = roleColours(this.role(role));
    if (!colours) throw new DeployStepError('up', `role ${role} has no colours on this host; it cannot run ${colour}`);
    return colours[colour];
  }

  /** What the compose file reads to run a colour: its name, and the port its app listens on. */
  private colourEnv(role: string, colour: Colour | undefined): Record<string, string> {
    if (colour === undefined) return {};
    const { address } = this.colour(role, colour);
    return { GRAPEVINE_COLOUR: colour, GRAPEVINE_PORT: address.slice(address.lastIndexOf(':') + 1) };
  }

  private healthUrl(role: string, colour: Colour | undefined): string | undefined {
    return colour === undefined ? this.role(role).healthUrl : this.colour(role, colour).healthUrl;
  }

  private async findContainer(role: string, colour?: Colour): Promise<string | null> {
    const containers = await this.engine.listContainers({
      label: [`com.docker.compose.project=${this.project(role, colour).name}`, `com.docker.compose.service=${this.role(role).service}`],
    });
    const newest = containers.sort((a, b) => b.Created - a.Created)[0];
    return newest?.Id ?? null;
  }
}
