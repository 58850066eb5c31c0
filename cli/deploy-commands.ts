// `grapevine release|deploy|mark-broken|rollback`: publishing releases and starting deploys.
// A plain `grapevine deploy` (no --wait, no help, a line it can read) does not come here: main
// runs it through lean-deploy.ts, without commander or zod. What comes here imports only what
// starting a deploy needs: the name checks (names.ts, strategy-kind.ts) and the lean create
// call, not the full client nor the contract's schemas. `--wait` loads them when asked for.
import type { Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import { clusterName, envName, imageRef, releaseTag, roleName } from '../shared/contract/names.js';
import { parseOrThrow } from '../shared/contract/parse-input.js';
import type { CreateDeployBody } from '../shared/contract/schemas.js';
import { StrategyKind } from '../shared/contract/strategy-kind.js';
import { createDeployCall, createDeployParsed } from '../shared/coordinator-http/create-deploy-call.js';
import type { CliContext } from './cli-context.js';
import { deployBody, startedLine, type DeployOptions, type StartedDeployLine as StartedDeploy } from './deploy-start.js';

export function registerReleaseCommands(program: Command, { client, print }: CliContext): void {
  const release = program.command('release').description('releases of a role');
  release
    .command('publish <role> <tag>')
    .description('record a tag (already pushed to the registry) as a release of ROLE')
    .option('--image <ref>', 'image reference (default: <registry>/<role>:<tag>)')
    .action(async (role: string, tag: string, options: { image?: string }) => {
      const body = {
        role: parseOrThrow(roleName, role, 'role'),
        tag: parseOrThrow(releaseTag, tag, 'tag'),
        ...(options.image ? { image: parseOrThrow(imageRef, options.image, '--image') } : {}),
      };
      const published = await client().publishRelease(body);
      // Hosts run the pinned reference; the tag as published is shown beside it.
      print(published, `published ${published.role}:${published.tag} as ${published.image}${published.publishedImage ? ` (from ${published.publishedImage})` : ''}`);
    });
  release
    .command('list <role>')
    .description('releases of ROLE, newest first')
    .action(async (role: string) => {
      const releases = await client().listReleases(parseOrThrow(roleName, role, 'role'));
      const lines = releases.map((r) => `${r.tag.padEnd(16)} ${r.image}${r.publishedImage ? `  from ${r.publishedImage}` : ''}${r.broken ? `  BROKEN: ${r.broken.reason}` : ''}`);
      print(releases, lines.join('\n') || `no releases of ${role}`);
    });
}

export function registerDeployCommand(program: Command, context: CliContext): void {
  const command = program
    .command('deploy <role>')
    .description('deploy a release of ROLE to every matching host, a third at a time')
    .requiredOption('--env <env>', 'environment, e.g. production')
    .option('--tag <tag>', 'release tag (default: the newest published)')
    .option('--wait', "follow the deploy and exit with its outcome")
    .option('--force', 'deploy even though the group is frozen (operator only)')
    .option('--strategy <kind>', "rolling, canary or blue-green (default: the role's in the coordinator's config)")
    .option('--cluster <name>', 'only the hosts of this cluster (Serf tag cluster), a third of them at a time')
    .option('--max-per-zone <n>', 'at most N hosts of one zone (Serf tag zone) out of service at once')
    .option('--zone-at-a-time', 'hosts of only one zone out of service at once')
    .action(async (role: string, options: DeployOptions) => {
      const wait = options.wait ?? false;
      const create = await deployCreator(context, wait);
      checkDeployNames(role, options);
      const deploy = await create(deployBody(role, options));
      await finishDeploy(context, deploy, wait);
    });
  // Its action loads the full client only for --wait.
  context.leanAction(command);
}

/** Each name of the line, in the order they are reported; the lean reading (lean-deploy.ts) keeps the same rules. */
export function checkDeployNames(role: string, options: DeployOptions): void {
  parseOrThrow(roleName, role, 'role');
  parseOrThrow(envName, options.env, '--env');
  if (options.tag) parseOrThrow(releaseTag, options.tag, '--tag');
  if (options.strategy) parseOrThrow(StrategyKind, options.strategy, '--strategy');
  if (options.cluster !== undefined) parseOrThrow(clusterName, options.cluster, '--cluster');
}

/**
 * How `grapevine deploy` sends its create, the coordinator and token checked first (as the
 * client did): with --wait through the full client, whose connection then follows the deploy;
 * otherwise the lean call, whose answer is checked for what is printed, or with --json, which
 * prints the whole deploy, by the full Deploy schema.
 */
async function deployCreator(context: CliContext, wait: boolean): Promise<(body: CreateDeployBody) => Promise<StartedDeploy>> {
  if (wait) {
    await context.loadClient();
    const client = context.client();
    return (body) => client.createDeploy(body);
  }
  const connection = context.connection();
  if (!context.json()) return (body) => createDeployCall(connection, body);
  const { Deploy } = await import('../shared/contract/schemas.js');
  return (body) => createDeployParsed(connection, body, Deploy);
}

export function registerMarkBrokenCommand(program: Command, { client, print }: CliContext): void {
  program
    .command('mark-broken <role> <tag>')
    .description('mark a release broken: rollouts of it stop at once and it can never be deployed again')
    .requiredOption('--reason <text>', 'why, for the people who will read the deploy status')
    .action(async (role: string, tag: string, options: { reason: string }) => {
      const reason = options.reason.trim();
      if (reason === '') throw new ValidationError('--reason must say why the release is broken');
      const release = await client().markBroken(parseOrThrow(roleName, role, 'role'), parseOrThrow(releaseTag, tag, 'tag'), { reason });
      print(release, `marked ${release.role}:${release.tag} broken: ${release.broken?.reason ?? reason}`);
    });
}

export function registerRollbackCommand(program: Command, context: CliContext): void {
  program
    .command('rollback <role>')
    .description('deploy the newest release that last succeeded in ENV and is not broken')
    .requiredOption('--env <env>', 'environment, e.g. production')
    .option('--wait', 'follow the deploy and exit with its outcome')
    .option('--run-job', "run the role's once-per-deploy job (a migration) too; a rollback skips it unless asked")
    .option('--force', 'roll back even though the group is frozen (operator only)')
    .action(async (role: string, options: { env: string; wait?: boolean; runJob?: boolean; force?: boolean }) => {
      const deploy = await context.client().rollback(parseOrThrow(roleName, role, 'role'), parseOrThrow(envName, options.env, '--env'), {
        runJob: options.runJob === true,
        force: options.force === true,
      });
      await finishDeploy(context, deploy, options.wait ?? false);
    });
}

/** Prints the started deploy, or follows it to its end with `--wait` (whose watcher loads only then). */
export async function finishDeploy(context: CliContext, deploy: StartedDeploy, wait: boolean): Promise<void> {
  if (!wait) {
    context.print(deploy, startedLine(deploy));
    return;
  }
  const { followDeployToEnd } = await import('./deploy-follow.js');
  await followDeployToEnd(context, deploy);
}
