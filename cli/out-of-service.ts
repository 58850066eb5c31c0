// `grapevine out-of-service`: the hosts a group counts against its k, and forgetting one
// that is gone for good, so a rollout gets its slot back without a Redis session.
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import { envName, nodeName, roleName } from '../shared/contract/names.js';
import { parseOrThrow, type ForgottenHost, type OutOfServiceList } from '../shared/contract/schemas.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';

export interface OutOfServiceCommandDeps {
  client: () => CoordinatorClient;
  print: (value: unknown, text: string) => void;
}

interface Options {
  env: string;
  forget?: string;
  force?: boolean;
  reason?: string;
}

export function registerOutOfServiceCommand(program: Command, { client, print }: OutOfServiceCommandDeps): void {
  program
    .command('out-of-service <role>')
    .description("hosts counted against ROLE's slots in ENV (took a slot, not serving since); --forget one gone for good")
    .requiredOption('--env <env>', 'environment, e.g. production')
    .option('--forget <host>', 'stop counting HOST out of service (a host removed for good)')
    .option('--force', 'with --forget: even while the host holds a slot and Serf lists it alive (it may be deploying)')
    .option('--reason <text>', "with --forget: why, for the coordinator's log")
    .action(async (role: string, options: Options) => {
      const group = { role: parseOrThrow(roleName, role, 'role'), env: parseOrThrow(envName, options.env, '--env') };
      if (options.forget === undefined) {
        if (options.force || options.reason !== undefined) throw new ValidationError('--force and --reason go with --forget HOST');
        const listed = await client().outOfService(group.role, group.env);
        print(listed, describeList(listed));
        return;
      }
      const host = parseOrThrow(nodeName, options.forget, '--forget');
      const reason = options.reason?.trim();
      const forgotten = await client().forgetOutOfService(group.role, group.env, host, {
        force: options.force ?? false,
        by: whoAsks(),
        ...(reason ? { reason } : {}),
      });
      print(forgotten, describeForgotten(forgotten));
    });
}

function describeList(listed: OutOfServiceList): string {
  const { role, env, deploy, hosts } = listed;
  const k = deploy?.slots === undefined ? '' : `, k = ${deploy.slots}`;
  const newest = deploy ? `; newest deploy ${deploy.id} ${deploy.status}${k}` : '; no deploys yet';
  const head = `${role}/${env}: ${hosts.length} host${hosts.length === 1 ? '' : 's'} counted out of service${newest}`;
  const lines = [head];
  if (listed.serfError !== undefined) lines.push(`Serf could not be asked: ${listed.serfError}`);
  if (hosts.length > 0) {
    lines.push(`  ${'HOST'.padEnd(20)} ${'SERF'.padEnd(11)} SLOT`);
    for (const h of hosts) lines.push(`  ${h.host.padEnd(20)} ${h.serf.padEnd(11)} ${h.slot === null ? '-' : String(h.slot)}`);
    const gone = hosts.filter((h) => h.slot === null && h.serf !== 'alive' && h.serf !== 'unknown');
    if (gone.length > 0) lines.push(`a host removed for good: grapevine out-of-service ${role} --env ${env} --forget ${gone[0]?.host}`);
  }
  return lines.join('\n');
}

function describeForgotten(forgotten: ForgottenHost): string {
  const { host, role, env, serf, slot } = forgotten;
  const known = `Serf: ${serf}${slot === null ? '' : `, held slot ${slot}`}`;
  if (!forgotten.removed) return `${host} had already left the out-of-service set of ${role}/${env} (it serves again; ${known})`;
  return `${host} no longer counted out of service in ${role}/${env}${forgotten.forced ? ' (forced)' : ''}; its place against k goes to the next waiting host (${known})`;
}

/** Who forgets a host, for the coordinator's log: this machine's user and name. */
function whoAsks(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `operator@${hostname()}`;
  }
}
