// Replaces a role's container with Docker Compose v2 (`docker compose`), and uses the
// Engine API to pull images and to watch the container's health.
import { execa } from 'execa';
import type { Logger } from '../contract/logger.js';
import type { RoleConfig } from '../contract/config.js';
import { DeployStepError, errorMessage } from '../contract/errors.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { DeployContext } from '../ports/deploy-context.js';
import { waitForHealth } from './health-wait.js';
import { DockerEngine } from './docker-engine.js';

export interface DockerComposeRuntimeOptions {
  node: string;
  roles: Record<string, RoleConfig>;
  dockerSocket: string;
  logger: Logger;
  /** How compose is run: `docker compose` (v2) unless told otherwise. */
  composeCommand?: readonly [string, ...string[]];
}

export class DockerComposeRuntime implements ContainerRuntime {
  private readonly docker: DockerEngine;
  private readonly compose: readonly [string, ...string[]];

  constructor(private readonly options: DockerComposeRuntimeOptions) {
    this.docker = new DockerEngine(options.dockerSocket);
    this.compose = options.composeCommand ?? ['docker', 'compose'];
  }

  async runningImage(role: string): Promise<string | null> {
    const container = await this.findContainer(role);
    if (!container) return null;
    const info = await this.docker.inspect(container);
    return info.State.Running ? info.Config.Image : null;
  }

  async pull(image: string, { signal }: DeployContext): Promise<void> {
    try {
      await this.docker.pull(image, signal);
    } catch (error) {
      throw new DeployStepError('pull', `cannot pull ${image}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async up(role: string, image: string, { signal }: DeployContext): Promise<void> {
    const settings = this.role(role);
    const [command, ...prefix] = this.compose;
    const args = [
      ...prefix,
      '--project-name',
      this.project(role),
      '--file',
      settings.compose,
      'up',
      '--detach',
      '--pull',
      'never',
      '--no-deps',
      settings.service,
    ];
    try {
      await execa(command, args, {
        env: { GRAPEVINE_IMAGE: image, GRAPEVINE_NODE: this.options.node, GRAPEVINE_ROLE: role },
        cancelSignal: signal,
        timeout: settings.healthTimeoutMs,
        stdin: 'ignore',
      });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new DeployStepError('up', `docker compose up failed for ${image}: ${lastLines(stderr) || errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  async waitHealthy(role: string, { signal }: DeployContext): Promise<void> {
    const container = await this.findContainer(role);
    if (!container) throw new DeployStepError('health', `no container of ${this.project(role)} is running`);
    const { healthTimeoutMs, healthUrl } = this.role(role);
    const timeout = AbortSignal.timeout(healthTimeoutMs);
    await waitForHealth(this.docker, container, AbortSignal.any([signal, timeout]), healthTimeoutMs, healthUrl);
  }

  private role(role: string): RoleConfig {
    const settings = this.options.roles[role];
    if (!settings) throw new DeployStepError('up', `this host has no settings for role ${role}`);
    return settings;
  }

  private project(role: string): string {
    return this.role(role).project ?? `${this.options.node}-${role}`.toLowerCase();
  }

  private async findContainer(role: string): Promise<string | null> {
    const containers = await this.docker.listContainers({
      label: [`com.docker.compose.project=${this.project(role)}`, `com.docker.compose.service=${this.role(role).service}`],
    });
    const newest = containers.sort((a, b) => b.Created - a.Created)[0];
    return newest?.Id ?? null;
  }
}

function lastLines(text: string | undefined, count = 3): string {
  return (text ?? '').split('\n').slice(-count).join(' ').trim();
}
