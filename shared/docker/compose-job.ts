// Runs a role's once-per-deploy job on this host: `docker compose run --rm SERVICE` of the
// role's compose project, with the new image in GRAPEVINE_IMAGE as for `up`.
import { roleColours, type RoleConfig } from '../contract/role-config.js';
import { Colour } from '../contract/strategy.js';
import { DeployStepError } from '../contract/errors.js';
import type { DeployContext } from '../ports/deploy-context.js';
import type { JobContainer, JobRun } from '../ports/deploy-job.js';
import { composeRun } from './compose-cli.js';

export interface DockerComposeJobsOptions {
  node: string;
  roles: Record<string, RoleConfig>;
  dockerSocket: string;
}

export class DockerComposeJobs implements JobContainer {
  constructor(private readonly options: DockerComposeJobsOptions) {}

  async runJob(role: string, image: string, env: Record<string, string>, { signal, logger, timeoutMs }: DeployContext & { timeoutMs: number }): Promise<JobRun> {
    const settings = this.options.roles[role];
    if (!settings?.job) throw new DeployStepError('job', `this host has no job settings for role ${role}`);
    // The project compose-runtime.ts uses for `up`, so the job shares the role's networks and volumes.
    const project = { file: settings.compose, name: settings.project ?? `${this.options.node}-${role}`.toLowerCase() };
    const startedAt = Date.now();
    const run = await composeRun(this.options.dockerSocket, project, settings.job.service, {
      env: { ...env, GRAPEVINE_IMAGE: image, GRAPEVINE_NODE: this.options.node, GRAPEVINE_ROLE: role, ...colourEnv(settings, env.GRAPEVINE_COLOUR) },
      signal,
      timeoutMs,
    });
    logger.info({ service: settings.job.service, image, exitCode: run.exitCode, ms: Date.now() - startedAt }, 'job container exited');
    return run;
  }
}

/**
 * A blue/green role's compose file reads the colour's port (for its app service) even when
 * compose only runs the job: the colour the deploy replaces (blue unless it names one).
 */
function colourEnv(settings: RoleConfig, named: string | undefined): Record<string, string> {
  const colours = roleColours(settings);
  if (!colours) return {};
  const colour = Colour.catch('blue').parse(named);
  const { address } = colours[colour];
  return { GRAPEVINE_COLOUR: colour, GRAPEVINE_PORT: address.slice(address.lastIndexOf(':') + 1) };
}
