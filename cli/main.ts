#!/usr/bin/env node
// The `grapevine` command: exit 0 on success, 1 when a deploy failed or was cancelled,
// 2 on bad input or an unreachable service, with a one-line reason on stderr.
// The agent, the coordinator, Serf and the local cluster are imported only by the
// commands that run them: CI calls `grapevine deploy` on every build, and its start-up
// time is part of every deploy's wall time.
import { Command, CommanderError, Option } from 'commander';
import { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import { GrapevineError, ValidationError, errorMessage } from '../shared/contract/errors.js';
import { deployId, envName, imageRef, releaseTag, roleName } from '../shared/contract/names.js';
import { parseOrThrow, type Deploy } from '../shared/contract/schemas.js';
import { summarize } from './deploy-watch.js';
import { PolledDeployFeed } from './watch/deploy-feed.js';
import { followToEnd } from './watch/follow-to-end.js';
import { registerDevCommands } from './dev-commands.js';
import { registerOutOfServiceCommand } from './out-of-service.js';
import { registerServiceCommands } from './service-commands.js';
import { registerTokenCommands } from './token-commands.js';
import { cliToken } from './token-source.js';
import { registerKeysCommand } from './keys-command.js';
import { registerAuditCommand } from './audit-command.js';
import { registerHistoryCommand } from './history-command.js';
import { freezeLine, registerFreezeCommands } from './freeze-commands.js';
import { registerFlagCommands } from './flag-commands.js';
import { registerStrategyCommands, strategyLines } from './strategy-commands.js';
import { StrategyKind } from '../shared/contract/strategy.js';
import { jobLines } from './job-lines.js';
import { registerRouteCommands } from './route-commands.js';
import { clusterName } from '../shared/contract/routing.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const WATCH_TIMEOUT_MS = 60 * 60_000;

// Read here, not through shared/config, which would build every config schema on the
// path of each `grapevine deploy` a CI job runs.
const env = { coordinator: process.env.GRAPEVINE_COORDINATOR, token: process.env.GRAPEVINE_TOKEN, tokenFile: process.env.GRAPEVINE_TOKEN_FILE, caFile: process.env.GRAPEVINE_CA_FILE };
/** How `--wait` draws on a terminal: no cursor moves on a dumb one, no colour with NO_COLOR (no-color.org). */
const terminal = { dumb: process.env.TERM === 'dumb', noColor: (process.env.NO_COLOR ?? '') !== '' };
const program = new Command('grapevine')
  .description('Gossip-driven, slot-limited deploys for fleets of Docker hosts')
  .option('--coordinator <url>', 'coordinator URL (or GRAPEVINE_COORDINATOR)')
  .option('--token-file <file>', 'file holding the coordinator token (or GRAPEVINE_TOKEN_FILE); GRAPEVINE_TOKEN otherwise')
  // Kept only to refuse it with a pointer: a token on the command line is in every process list.
  .addOption(new Option('--token <token>').hideHelp())
  .option('--ca-file <file>', "CA certificates (PEM) to verify an https:// coordinator with (or GRAPEVINE_CA_FILE); Node.js's public CAs unless given")
  .option('--json', 'print machine-readable JSON; with --wait, one JSON event per line (NDJSON), the ended deploy last')
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) });

interface GlobalOptions {
  coordinator?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
  json?: boolean;
}

function globals(): GlobalOptions {
  return program.opts<GlobalOptions>();
}

let coordinatorClient: CoordinatorClient | undefined;

/** One client per command, so `--wait` follows the deploy on the connection that created it. */
function client(): CoordinatorClient {
  if (coordinatorClient) return coordinatorClient;
  const { coordinator = env.coordinator, caFile = env.caFile || undefined, tokenFile, token: onCommandLine } = globals();
  if (!coordinator) throw new ValidationError('no coordinator: pass --coordinator URL or set GRAPEVINE_COORDINATOR');
  const token = cliToken({ tokenFile, onCommandLine, env });
  coordinatorClient = new CoordinatorClient({ url: coordinator, token, caFile });
  return coordinatorClient;
}

function print(value: unknown, text: string): void {
  process.stdout.write(globals().json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

async function finishDeploy(deploy: Deploy, wait: boolean): Promise<void> {
  if (!wait) {
    print(deploy, `deploy ${deploy.id} of ${deploy.role}:${deploy.tag} to ${deploy.env} started`);
    return;
  }
  const json = globals().json === true;
  const out = { stdout: process.stdout, json, terminal: process.stdout.isTTY === true && !terminal.dumb, color: !terminal.noColor };
  const final = await followToEnd(new PolledDeployFeed(client()), deploy.id, out, WATCH_TIMEOUT_MS);
  if (final.promotedTo && !json) process.stdout.write(`${await promotionLine(final.tag, final.promotedTo)}\n`);
  if (final.status !== 'succeeded') process.exitCode = EXIT_FAILED;
}

/** The promotion names its target environment as the coordinator recorded the deploy it started. */
async function promotionLine(tag: string, promotedTo: string): Promise<string> {
  const follow = `follow it with: grapevine status ${promotedTo} --wait`;
  try {
    const promoted = await client().getDeploy(promotedTo);
    return `promoted: ${tag} now deploys to ${promoted.env} as ${promotedTo}; ${follow}`;
  } catch (error) {
    return `promoted: ${tag} now deploys as ${promotedTo} (its environment could not be read: ${errorMessage(error)}); ${follow}`;
  }
}

/**
 * The freeze of each group among `deploys` (one read per group), as `status` prints it:
 * `web/production FROZEN "release train" (by ..., until ...)`. A coordinator that cannot
 * say (an older one, or a read refused) shows none rather than failing the status.
 */
async function freezesOf(deploys: readonly Deploy[]): Promise<Map<string, string>> {
  const groups = [...new Set(deploys.map((d) => `${d.role}/${d.env}`))];
  const found = new Map<string, string>();
  await Promise.all(
    groups.map(async (group) => {
      const [role = '', env = ''] = group.split('/');
      const mark = await client().frozen(role, env).catch(() => null);
      if (mark) found.set(group, `${group} ${freezeLine(mark)}`);
    }),
  );
  return found;
}

registerServiceCommands(program);

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

program
  .command('deploy <role>')
  .description('deploy a release of ROLE to every matching host, a third at a time')
  .requiredOption('--env <env>', 'environment, e.g. production')
  .option('--tag <tag>', 'release tag (default: the newest published)')
  .option('--wait', "follow the deploy and exit with its outcome")
  .option('--force', 'deploy even though the group is frozen (operator only)')
  .option('--strategy <kind>', "rolling, canary or blue-green (default: the role's in the coordinator's config)")
  .option('--cluster <name>', 'only the hosts of this cluster (Serf tag cluster), a third of them at a time')
  .action(async (role: string, options: { env: string; tag?: string; wait?: boolean; force?: boolean; strategy?: string; cluster?: string }) => {
    const deploy = await client().createDeploy({
      role: parseOrThrow(roleName, role, 'role'),
      env: parseOrThrow(envName, options.env, '--env'),
      ...(options.tag ? { tag: parseOrThrow(releaseTag, options.tag, '--tag') } : {}),
      ...(options.strategy ? { strategy: parseOrThrow(StrategyKind, options.strategy, '--strategy') } : {}),
      ...(options.force ? { force: true } : {}),
      ...(options.cluster === undefined ? {} : { cluster: parseOrThrow(clusterName, options.cluster, '--cluster') }),
    });
    await finishDeploy(deploy, options.wait ?? false);
  });

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

program
  .command('rollback <role>')
  .description('deploy the newest release that last succeeded in ENV and is not broken')
  .requiredOption('--env <env>', 'environment, e.g. production')
  .option('--wait', 'follow the deploy and exit with its outcome')
  .option('--run-job', "run the role's once-per-deploy job (a migration) too; a rollback skips it unless asked")
  .option('--force', 'roll back even though the group is frozen (operator only)')
  .action(async (role: string, options: { env: string; wait?: boolean; runJob?: boolean; force?: boolean }) => {
    const deploy = await client().rollback(parseOrThrow(roleName, role, 'role'), parseOrThrow(envName, options.env, '--env'), {
      runJob: options.runJob === true,
      force: options.force === true,
    });
    await finishDeploy(deploy, options.wait ?? false);
  });

program
  .command('status [deployId]')
  .description('one deploy with every host, or the latest deploys')
  .option('--wait', 'follow the deploy until it ends')
  .action(async (id: string | undefined, options: { wait?: boolean }) => {
    if (id === undefined) {
      const deploys = await client().listDeploys({});
      const frozen = await freezesOf(deploys);
      const lines = deploys.map((d) => describeDeploy(d) + (frozen.has(`${d.role}/${d.env}`) && d.status === 'in_progress' ? '  (parked: group frozen)' : ''));
      print(deploys, [...frozen.values(), ...lines].join('\n') || 'no deploys yet');
      return;
    }
    const deploy = await client().getDeploy(parseOrThrow(deployId, id, 'deploy id'));
    if (options.wait) return finishDeploy(deploy, true);
    const hosts = Object.values(deploy.hosts)
      .sort((a, b) => a.host.localeCompare(b.host))
      .map((h) => `  ${h.host.padEnd(12)} ${h.state.padEnd(10)} ${h.steps.map((s) => s.step).join(' > ')}${h.error ? `  (${h.error})` : ''}`);
    // The image every host runs: the release pinned to its digest when it was published.
    const startedBy = deploy.startedBy === undefined ? [] : [`  started by   ${deploy.startedBy}`];
    const frozen = [...(await freezesOf([deploy])).values()].map((line) => `  ${line}`);
    print(deploy, [describeDeploy(deploy), `  image        ${deploy.image}`, ...startedBy, ...frozen, ...strategyLines(deploy), ...hosts, ...jobLines(deploy)].join('\n'));
    if (deploy.status === 'failed' || deploy.status === 'cancelled' || deploy.status === 'partial') process.exitCode = EXIT_FAILED;
  });

program
  .command('members')
  .description("alive hosts as this machine's Serf agent sees them (its RPC token from GRAPEVINE_SERF_RPC_AUTH)")
  .option('--role <role>', 'only hosts of this role')
  .option('--env <env>', 'only hosts of this environment')
  .addOption(new Option('--rpc-addr <addr>', 'Serf RPC address').env('GRAPEVINE_SERF_RPC').default('127.0.0.1:7373'))
  // Kept only to refuse it with a pointer: a token on the command line is in every process list.
  .addOption(new Option('--rpc-auth <token>').hideHelp())
  .action(async (options: { role?: string; env?: string; rpcAddr: string; rpcAuth?: string }) => {
    if (options.rpcAuth !== undefined) throw new ValidationError('--rpc-auth is not taken (the command line shows in every process list): set GRAPEVINE_SERF_RPC_AUTH');
    const [{ SerfCli }, { rolesTagPattern }] = await Promise.all([import('../shared/serf/serf-cli.js'), import('../shared/ports/membership.js')]);
    const tags: Record<string, string> = {};
    if (options.role) tags.roles = rolesTagPattern(parseOrThrow(roleName, options.role, '--role'));
    if (options.env) tags.env = parseOrThrow(envName, options.env, '--env');
    // The RPC token only from the environment: on the command line any user's ps would show it.
    const serf = new SerfCli({ rpcAddr: options.rpcAddr, rpcAuth: process.env.GRAPEVINE_SERF_RPC_AUTH ?? '' });
    const members = (await serf.members({ tags, status: 'alive' })).filter((m) => m.tags.roles !== undefined);
    const lines = members
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => `${m.name.padEnd(12)} ${m.addr.padEnd(22)} env=${m.tags.env ?? ''} roles=${m.tags.roles ?? ''}${m.tags.cluster === undefined ? '' : ` cluster=${m.tags.cluster}`}`);
    print(members, lines.join('\n') || 'no matching hosts');
  });

registerOutOfServiceCommand(program, { client, print: (value, text) => print(value, text) });
registerTokenCommands(program, { client, print: (value, text) => print(value, text), json: () => globals().json === true });
registerKeysCommand(program, { client, print: (value, text) => print(value, text) });
registerAuditCommand(program, { client, json: () => globals().json === true });
registerHistoryCommand(program, { client, print: (value, text) => print(value, text) });
registerFreezeCommands(program, { client, print: (value, text) => print(value, text) });
registerFlagCommands(program, { client, print: (value, text) => print(value, text) });
registerRouteCommands(program, { client, print: (value, text) => print(value, text) });
registerStrategyCommands(program, { client, print: (value, text) => print(value, text), failed: () => void (process.exitCode = EXIT_FAILED) });
registerDevCommands(program, { print: (value, text) => print(value, text) });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    process.stderr.write(`grapevine: ${errorMessage(error)}\n`);
    process.exitCode = error instanceof GrapevineError && isDeployOutcome(error) ? EXIT_FAILED : EXIT_USAGE;
  }
}

/** A deploy's one-line summary; a catch-up says so first, with the host it brings to which release. */
function describeDeploy(deploy: Deploy): string {
  if (deploy.catchUpOf === undefined) return deploy.cluster === undefined ? summarize(deploy) : `${summarize(deploy)}  (cluster ${deploy.cluster})`;
  return `catch-up of ${deploy.targets?.join(', ') ?? 'one host'} to ${deploy.tag} (after ${deploy.catchUpOf}): ${summarize(deploy)}`;
}

function isDeployOutcome(error: GrapevineError): boolean {
  return error.code === 'watch_timeout';
}
