// The CLI's command table: the command a line names is the only module loaded, and the table
// names exactly the top-level commands its modules register, in the order the help lists them.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { cliContext } from '../../cli/cli-context.js';
import { COMMANDS, commandsFor } from '../../cli/command-table.js';

function loaded(...args: string[]): string[] {
  return commandsFor(args).flatMap((entry) => entry.names);
}

describe('grapevine command table', () => {
  it('loads only the command a line names, past global options and their values', () => {
    expect(loaded('deploy', 'web', '--env', 'production')).toEqual(['deploy']);
    expect(loaded('--coordinator', 'http://c:7700', '--json', 'status', 'd-abc123')).toEqual(['status']);
    expect(loaded('--token-file', 'deploy', 'release', 'list', 'web')).toEqual(['release']);
    expect(loaded('--coordinator=http://c:7700', 'unfreeze', 'web')).toEqual(['freeze', 'unfreeze']);
    expect(loaded('cluster', 'retire', 'web')).toEqual(['route', 'cluster']);
  });

  it('loads every command for the help, a typo or no command at all', () => {
    const all = COMMANDS.flatMap((entry) => entry.names);
    expect(loaded()).toEqual(all);
    expect(loaded('--help')).toEqual(all);
    expect(loaded('-h', 'deploy')).toEqual(all);
    expect(loaded('help', 'deploy')).toEqual(all);
    expect(loaded('dploy', 'web')).toEqual(all);
    expect(loaded('--json')).toEqual(all);
  });

  it('names each top-level command its modules register, once and in the order of the help', async () => {
    const program = new Command('grapevine');
    const context = cliContext(program, { terminal: { dumb: true, noColor: true } });
    for (const entry of COMMANDS) await entry.register(program, context);
    expect(program.commands.map((command) => command.name())).toEqual(COMMANDS.flatMap((entry) => entry.names));
  });
});
