// `grapevine members`: the alive hosts as this machine's Serf agent sees them, asked over
// Serf's RPC with the token from the environment.
import { Option, type Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import { envName, roleName } from '../shared/contract/names.js';
import { parseOrThrow } from '../shared/contract/schemas.js';
import type { CliContext } from './cli-context.js';

export function registerMembersCommand(program: Command, { print }: CliContext): void {
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
      const [{ SerfRpcClient }, { rolesTagPattern }] = await Promise.all([import('../shared/serf/serf-rpc-client.js'), import('../shared/ports/membership.js')]);
      const tags: Record<string, string> = {};
      if (options.role) tags.roles = rolesTagPattern(parseOrThrow(roleName, options.role, '--role'));
      if (options.env) tags.env = parseOrThrow(envName, options.env, '--env');
      // The RPC token only from the environment: on the command line any user's ps would show it.
      const serf = new SerfRpcClient({ rpcAddr: options.rpcAddr, rpcAuth: process.env.GRAPEVINE_SERF_RPC_AUTH ?? '' });
      const members = (await serf.members({ tags, status: 'alive' }).finally(() => serf.close())).filter((m) => m.tags.roles !== undefined);
      const lines = members
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((m) => `${m.name.padEnd(12)} ${m.addr.padEnd(22)} env=${m.tags.env ?? ''} roles=${m.tags.roles ?? ''}${m.tags.cluster === undefined ? '' : ` cluster=${m.tags.cluster}`}${m.tags.zone === undefined ? '' : ` zone=${m.tags.zone}`}`);
      print(members, lines.join('\n') || 'no matching hosts');
    });
}
