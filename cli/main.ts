#!/usr/bin/env node
// The `grapevine` command: exit 0 on success, 1 when a deploy failed or was cancelled,
// 2 on bad input or an unreachable service, with a one-line reason on stderr.
// This file holds only the global options and the dispatch: each command's module (and so the
// agent, the coordinator, Serf, the schemas a command needs) is imported when that command runs
// (cli/command-table.ts). CI calls `grapevine deploy` on every build, and its start-up time is
// part of every deploy's wall time.
import { Command, CommanderError, Option } from 'commander';
import { GrapevineError, errorMessage } from '../shared/contract/errors.js';
import { cliContext } from './cli-context.js';
import { commandsFor } from './command-table.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

// Read here, not through shared/config, which would build every config schema on the
// path of each `grapevine deploy` a CI job runs.
const env = {
  coordinator: process.env.GRAPEVINE_COORDINATOR,
  token: process.env.GRAPEVINE_TOKEN,
  tokenFile: process.env.GRAPEVINE_TOKEN_FILE,
  caFile: process.env.GRAPEVINE_CA_FILE,
  /** How `--wait` draws on a terminal: no cursor moves on a dumb one, no colour with NO_COLOR (no-color.org). */
  terminal: { dumb: process.env.TERM === 'dumb', noColor: (process.env.NO_COLOR ?? '') !== '' },
};
const program = new Command('grapevine')
  .description('Gossip-driven, slot-limited deploys for fleets of Docker hosts')
  .option('--coordinator <url>', 'coordinator URL, or several comma-separated (the fleet\'s coordinators, tried in turn; or GRAPEVINE_COORDINATOR)')
  .option('--token-file <file>', 'file holding the coordinator token (or GRAPEVINE_TOKEN_FILE); GRAPEVINE_TOKEN otherwise')
  // Kept only to refuse it with a pointer: a token on the command line is in every process list.
  .addOption(new Option('--token <token>').hideHelp())
  .option('--ca-file <file>', "CA certificates (PEM) to verify an https:// coordinator with (or GRAPEVINE_CA_FILE); Node.js's public CAs unless given")
  .option('--json', 'print machine-readable JSON; with --wait, one JSON event per line (NDJSON), the ended deploy last')
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) });

try {
  const context = cliContext(program, env);
  // The client's module (every answer schema) loads before an action, not with the commands:
  // help never needs it, and `grapevine deploy` makes its own lean call.
  program.hook('preAction', async (_program, action) => {
    if (!context.isLean(action)) await context.loadClient();
  });
  // In the table's order, one after the other: the help lists the commands as registered.
  for (const command of commandsFor(process.argv.slice(2))) await command.register(program, context);
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    process.stderr.write(`grapevine: ${errorMessage(error)}\n`);
    process.exitCode = error instanceof GrapevineError && isDeployOutcome(error) ? EXIT_FAILED : EXIT_USAGE;
  }
}

function isDeployOutcome(error: GrapevineError): boolean {
  return error.code === 'watch_timeout';
}
