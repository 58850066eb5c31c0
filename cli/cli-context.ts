// What every coordinator command is handed: the client for the coordinator the global options
// name, and how to print. The client's module builds the schema of every answer it reads, so it
// is loaded (loadClient) before a command's action runs, except for an action that makes its
// own lean call (`grapevine deploy`, on every CI build) and loads it only when it needs it.
import type { Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import type { CoordinatorClient, CoordinatorClientOptions } from '../shared/coordinator-http/coordinator-client.js';
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
  /** One client per command, so `--wait` follows the deploy on the connection that created it. Only after loadClient. */
  client(): CoordinatorClient;
  /** Loads the client's module (once); main does it before every action but a lean one. */
  loadClient(): Promise<void>;
  /** Marks `command`'s action as lean: it calls loadClient itself when it needs the client. */
  leanAction(command: Command): void;
  /** Whether loadClient is left to `command`'s action. */
  isLean(command: Command): boolean;
  /** The coordinators, token and CA file the global options and environment name, checked as client() does. */
  connection(): CoordinatorClientOptions;
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

/** The coordinators, token and CA file the global options and environment name; a ValidationError saying what is missing. */
export function coordinatorConnection(globals: GlobalOptions, env: CliEnv): CoordinatorClientOptions {
  const { coordinator = env.coordinator, caFile = env.caFile || undefined, tokenFile, token: onCommandLine } = globals;
  if (!coordinator) throw new ValidationError('no coordinator: pass --coordinator URL or set GRAPEVINE_COORDINATOR');
  const token = cliToken({ tokenFile, onCommandLine, env });
  return { url: coordinator, token, caFile };
}

/** A command's output: `value` as JSON with --json, else the line for people. */
export function printOutput(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

export function cliContext(program: Command, env: CliEnv): CliContext {
  const globals = () => program.opts<GlobalOptions>();
  const lean = new WeakSet<Command>();
  let clientClass: typeof CoordinatorClient | undefined;
  let coordinatorClient: CoordinatorClient | undefined;
  const connection = () => coordinatorConnection(globals(), env);
  return {
    client() {
      if (coordinatorClient) return coordinatorClient;
      if (!clientClass) throw new Error('the coordinator client was used before loadClient');
      coordinatorClient = new clientClass(connection());
      return coordinatorClient;
    },
    async loadClient() {
      clientClass ??= (await import('../shared/coordinator-http/coordinator-client.js')).CoordinatorClient;
    },
    leanAction: (command) => void lean.add(command),
    isLean: (command) => lean.has(command),
    connection,
    print: (value, text) => printOutput(globals().json === true, value, text),
    json: () => globals().json === true,
    failed: () => void (process.exitCode = EXIT_FAILED),
    terminal: env.terminal,
  };
}
