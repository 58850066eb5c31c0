// Every top-level command of `grapevine`, in the order `grapevine --help` lists them, each with
// the module that registers it. A command's module is imported only when that command runs
// (or for the help, which lists them all): `grapevine deploy` runs in every CI build, and
// loading the agent, the coordinator or every schema would be start-up time on each deploy.
import type { Command } from 'commander';
import type { CliContext } from './cli-context.js';

export interface CommandEntry {
  /** The top-level command names the module registers. */
  readonly names: readonly string[];
  register(program: Command, context: CliContext): Promise<void>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { names: ['coordinator', 'agent', 'lb-relay'], register: async (program) => (await import('./service-commands.js')).registerServiceCommands(program) },
  { names: ['release'], register: async (program, context) => (await import('./deploy-commands.js')).registerReleaseCommands(program, context) },
  { names: ['deploy'], register: async (program, context) => (await import('./deploy-commands.js')).registerDeployCommand(program, context) },
  { names: ['mark-broken'], register: async (program, context) => (await import('./deploy-commands.js')).registerMarkBrokenCommand(program, context) },
  { names: ['rollback'], register: async (program, context) => (await import('./deploy-commands.js')).registerRollbackCommand(program, context) },
  { names: ['status'], register: async (program, context) => (await import('./status-command.js')).registerStatusCommand(program, context) },
  { names: ['members'], register: async (program, context) => (await import('./members-command.js')).registerMembersCommand(program, context) },
  { names: ['out-of-service'], register: async (program, context) => (await import('./out-of-service.js')).registerOutOfServiceCommand(program, context) },
  { names: ['token'], register: async (program, context) => (await import('./token-commands.js')).registerTokenCommands(program, context) },
  { names: ['keys'], register: async (program, context) => (await import('./keys-command.js')).registerKeysCommand(program, context) },
  { names: ['audit'], register: async (program, context) => (await import('./audit-command.js')).registerAuditCommand(program, context) },
  { names: ['history'], register: async (program, context) => (await import('./history-command.js')).registerHistoryCommand(program, context) },
  { names: ['freeze', 'unfreeze'], register: async (program, context) => (await import('./freeze-commands.js')).registerFreezeCommands(program, context) },
  { names: ['flag'], register: async (program, context) => (await import('./flag-commands.js')).registerFlagCommands(program, context) },
  { names: ['route', 'cluster'], register: async (program, context) => (await import('./route-commands.js')).registerRouteCommands(program, context) },
  { names: ['canary', 'promote', 'abort', 'switch'], register: async (program, context) => (await import('./strategy-commands.js')).registerStrategyCommands(program, context) },
  { names: ['dev'], register: async (program, context) => (await import('./dev-commands.js')).registerDevCommands(program, context) },
];

/** Global options that take a value, which the command name never is. */
const VALUED_GLOBALS = new Set(['--coordinator', '--token-file', '--token', '--ca-file']);

/**
 * The commands to register for `args` (argv after node and the script): only the one named,
 * when it is one; every command otherwise (no command, `help`, a typo), so the help lists
 * them all and commander can suggest the closest.
 */
export function commandsFor(args: readonly string[]): readonly CommandEntry[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    // `grapevine --help deploy` is the whole program's help.
    if (arg === '-h' || arg === '--help') return COMMANDS;
    if (arg.startsWith('-')) {
      if (VALUED_GLOBALS.has(arg)) i++;
      continue;
    }
    const entry = COMMANDS.find((command) => command.names.includes(arg));
    return entry ? [entry] : COMMANDS;
  }
  return COMMANDS;
}
