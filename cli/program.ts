// The whole `grapevine` program through commander: every command, the help, and the errors of
// a line. Each command's module (and so the agent, the coordinator, Serf, the schemas a command
// needs) is imported when that command runs (cli/command-table.ts). main.ts comes here for
// every line but a plain `grapevine deploy`, which it runs lean (cli/lean-deploy.ts).
import { Command, CommanderError, Option } from 'commander';
import { cliContext, type CliEnv } from './cli-context.js';
import { commandsFor } from './command-table.js';
import { EXIT_USAGE, reportFailure } from './exit-status.js';

/** The program with its global options and no command yet. */
export function grapevineProgram(): Command {
  return new Command('grapevine')
    .description('Gossip-driven, slot-limited deploys for fleets of Docker hosts')
    .option('--coordinator <url>', 'coordinator URL, or several comma-separated (the fleet\'s coordinators, tried in turn; or GRAPEVINE_COORDINATOR)')
    .option('--token-file <file>', 'file holding the coordinator token (or GRAPEVINE_TOKEN_FILE); GRAPEVINE_TOKEN otherwise')
    // Kept only to refuse it with a pointer: a token on the command line is in every process list.
    .addOption(new Option('--token <token>').hideHelp())
    .option('--ca-file <file>', "CA certificates (PEM) to verify an https:// coordinator with (or GRAPEVINE_CA_FILE); Node.js's public CAs unless given")
    .option('--json', 'print machine-readable JSON; with --wait, one JSON event per line (NDJSON), the ended deploy last')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
}

/** Reads `argv` (node, the script, then the line) and runs its command; a failure is reported here, with its exit code. */
export async function runProgram(argv: readonly string[], env: CliEnv): Promise<void> {
  const program = grapevineProgram();
  try {
    const context = cliContext(program, env);
    // The client's module (every answer schema) loads before an action, not with the commands:
    // help never needs it, and `grapevine deploy` makes its own lean call.
    program.hook('preAction', async (_program, action) => {
      if (!context.isLean(action)) await context.loadClient();
    });
    // In the table's order, one after the other: the help lists the commands as registered.
    for (const command of commandsFor(argv.slice(2))) await command.register(program, context);
    await program.parseAsync(argv);
  } catch (error) {
    // Commander printed the help (0) or the line's error already.
    if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
    else reportFailure(error);
  }
}
