// What every coordinator command is handed: the client for the coordinator the global options
// name, and how to print. Loaded with the command that needs it, never by `grapevine --help`'s
// first line of work.
import type { Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import { cliToken } from './token-source.js';

/** The exit code of a command whose deploy failed or was cancelled. */
export const EXIT_FAILED = 1;

export interface GlobalOptions {
  coordinator?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
  json?: boolean;
}

export interface CliContext {
  /** One client per command, so `--wait` follows the deploy on the connection that created it. */
  client(): CoordinatorClient;
  print(value: unknown, text: string): void;
  json(): boolean;
  /** Sets the exit code to EXIT_FAILED: the deploy or the canary the command reported failed. */
  failed(): void;
  /** How `--wait` draws on a terminal: no cursor moves on a dumb one, no colour with NO_COLOR (no-color.org). */
  readonly terminal: { dumb: boolean; noColor: boolean };
}

/** What the CLI reads from its environment; read in main, not through shared/config, which would build every config schema. */
export interface CliEnv {
  coordinator?: string | undefined;
  token?: string | undefined;
  tokenFile?: string | undefined;
  caFile?: string | undefined;
  terminal: { dumb: boolean; noColor: boolean };
}

export function cliContext(program: Command, env: CliEnv): CliContext {
  const globals = () => program.opts<GlobalOptions>();
  let coordinatorClient: CoordinatorClient | undefined;
  return {
    client() {
      if (coordinatorClient) return coordinatorClient;
      const { coordinator = env.coordinator, caFile = env.caFile || undefined, tokenFile, token: onCommandLine } = globals();
      if (!coordinator) throw new ValidationError('no coordinator: pass --coordinator URL or set GRAPEVINE_COORDINATOR');
      const token = cliToken({ tokenFile, onCommandLine, env });
      coordinatorClient = new CoordinatorClient({ url: coordinator, token, caFile });
      return coordinatorClient;
    },
    print(value, text) {
      process.stdout.write(globals().json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
    },
    json: () => globals().json === true,
    failed: () => void (process.exitCode = EXIT_FAILED),
    terminal: env.terminal,
  };
}
