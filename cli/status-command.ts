// `grapevine status [ID] [--wait]`: one deploy with every host, or the latest deploys, with
// the freeze of each group shown.
import { describeZoneRule } from '../shared/contract/zone-rule.js';
import type { Command } from 'commander';
import { deployId } from '../shared/contract/names.js';
import { parseOrThrow, type Deploy } from '../shared/contract/schemas.js';
import type { DeploySummary } from '../shared/contract/deploy-views.js';
import type { CliContext } from './cli-context.js';
import { finishDeploy } from './deploy-commands.js';
import { summarize } from './deploy-watch.js';
import { freezeLine } from './freeze-commands.js';
import { jobLines } from './job-lines.js';
import { strategyLines } from './strategy-commands.js';

export function registerStatusCommand(program: Command, context: CliContext): void {
  const { client, print } = context;
  program
    .command('status [deployId]')
    .description('one deploy with every host, or the latest deploys')
    .option('--wait', 'follow the deploy until it ends')
    .action(async (id: string | undefined, options: { wait?: boolean }) => {
      if (id === undefined) {
        const deploys = await client().listDeploys({});
        const frozen = await freezesOf(context, deploys);
        const lines = deploys.map((d) => describeDeploy(d) + (frozen.has(`${d.role}/${d.env}`) && d.status === 'in_progress' ? '  (parked: group frozen)' : ''));
        print(deploys, [...frozen.values(), ...lines].join('\n') || 'no deploys yet');
        return;
      }
      const deploy = await client().getDeploy(parseOrThrow(deployId, id, 'deploy id'));
      if (options.wait) return finishDeploy(context, deploy, true);
      const hosts = Object.values(deploy.hosts)
        .sort((a, b) => a.host.localeCompare(b.host))
        .map((h) => `  ${h.host.padEnd(12)} ${h.state.padEnd(10)} ${h.steps.map((s) => s.step).join(' > ')}${h.error ? `  (${h.error})` : ''}`);
      // A large deploy comes with its first page of hosts: the counts in the first line cover them all.
      if (deploy.hostsNext !== undefined) hosts.push(`  ... the first ${hosts.length} hosts; every host: grapevine status ${deploy.id} --json, or GET /v1/deploys/${deploy.id}/hosts`);
      // The image every host runs: the release pinned to its digest when it was published.
      const startedBy = deploy.startedBy === undefined ? [] : [`  started by   ${deploy.startedBy}`];
      const frozen = [...(await freezesOf(context, [deploy])).values()].map((line) => `  ${line}`);
      print(deploy, [describeDeploy(deploy), `  image        ${deploy.image}`, ...startedBy, ...frozen, ...strategyLines(deploy), ...hosts, ...jobLines(deploy)].join('\n'));
      if (deploy.status === 'failed' || deploy.status === 'cancelled' || deploy.status === 'partial') context.failed();
    });
}

/**
 * The freeze of each group among `deploys` (one read per group), as `status` prints it:
 * `web/production FROZEN "release train" (by ..., until ...)`. A coordinator that cannot
 * say (an older one, or a read refused) shows none rather than failing the status.
 */
async function freezesOf({ client }: CliContext, deploys: ReadonlyArray<Deploy | DeploySummary>): Promise<Map<string, string>> {
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

/** A deploy's one-line summary; a catch-up says so first, with the host it brings to which release. */
function describeDeploy(deploy: Deploy | DeploySummary): string {
  // The zone rule, when the deploy has one, so an operator sees why hosts of a zone wait.
  const zones = deploy.zoneRule === undefined ? '' : `  (zones: ${describeZoneRule(deploy.zoneRule)})`;
  if (deploy.catchUpOf === undefined) return (deploy.cluster === undefined ? summarize(deploy) : `${summarize(deploy)}  (cluster ${deploy.cluster})`) + zones;
  return `catch-up of ${deploy.targets?.join(', ') ?? 'one host'} to ${deploy.tag} (after ${deploy.catchUpOf}): ${summarize(deploy)}`;
}
