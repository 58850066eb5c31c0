// `grapevine deploy ROLE --env ENV ...` without --wait or --json, the line CI runs on every
// build, read and run without commander or zod: they were most of the command's start-up. The
// reading takes only lines it reads exactly as commander does (the globals before or after the
// command, `--option value` and `--option=value`, the last of a repeated option winning) with
// names that keep their rules; any other line (help, --wait, an unknown or missing option, a
// value that starts with a dash, a name that breaks its rule) goes to the full program, whose
// help and errors are then the only ones there are. test/unit/lean-deploy.test.ts holds the
// two readings side by side.
import { CLUSTER_RULE, keeps, ROLE_RULE, STRATEGIES, TAG_RULE } from '../shared/contract/name-rules.js';
import { createDeployCall } from '../shared/coordinator-http/create-deploy-call.js';
import { coordinatorConnection, printOutput, type CliEnv, type GlobalOptions } from './cli-context.js';
import { deployBody, startedLine, type DeployOptions } from './deploy-start.js';

/** A `grapevine deploy` line as commander would hand it to the command's action. */
export interface LeanDeployLine {
  /** The program's options: `program.opts()`. */
  globals: GlobalOptions;
  role: string;
  /** The command's options: its `opts()`. */
  options: DeployOptions;
}

// Only those that can be read alone; --token, kept only to be refused, is left to the program,
// and so is --json, whose answer is parsed with the whole Deploy schema (zod).
const GLOBAL_VALUES: Readonly<Record<string, 'coordinator' | 'tokenFile' | 'caFile'>> = { '--coordinator': 'coordinator', '--token-file': 'tokenFile', '--ca-file': 'caFile' };
const DEPLOY_VALUES: Readonly<Record<string, 'env' | 'tag' | 'strategy' | 'cluster' | 'maxPerZone'>> = {
  '--env': 'env',
  '--tag': 'tag',
  '--strategy': 'strategy',
  '--cluster': 'cluster',
  '--max-per-zone': 'maxPerZone',
};
// Not --wait: following a deploy loads the full client anyway.
const DEPLOY_FLAGS: Readonly<Record<string, 'force' | 'zoneAtATime'>> = { '--force': 'force', '--zone-at-a-time': 'zoneAtATime' };

/** `args` (argv after node and the script) as a lean deploy, or undefined for the full program to read. */
export function leanDeployLine(args: readonly string[]): LeanDeployLine | undefined {
  const globals: GlobalOptions = {};
  const options: Partial<DeployOptions> = {};
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.length < 2 || !arg.startsWith('-')) {
      // Before the command, commander reads no option of the command's.
      if (operands.length === 0 && arg !== 'deploy') return undefined;
      operands.push(arg);
      continue;
    }
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = equals > 2 ? arg.slice(0, equals) : arg;
    const commandStarted = operands.length > 0;
    const globalValue = GLOBAL_VALUES[name];
    const deployValue = commandStarted ? DEPLOY_VALUES[name] : undefined;
    const flag = commandStarted ? DEPLOY_FLAGS[name] : undefined;
    if (globalValue !== undefined || deployValue !== undefined) {
      const value = equals > 2 ? arg.slice(equals + 1) : args[++i];
      // A value that looks like an option is one commander may read otherwise (as a global, as help).
      if (value === undefined || (equals <= 2 && value.startsWith('-'))) return undefined;
      if (globalValue !== undefined) globals[globalValue] = value;
      else options[deployValue!] = value;
    } else if (flag !== undefined && equals <= 2) {
      options[flag] = true;
    } else {
      return undefined;
    }
  }
  if (operands.length !== 2 || options.env === undefined) return undefined;
  const line: LeanDeployLine = { globals, role: operands[1]!, options: { ...options, env: options.env } };
  return namesKeepTheirRules(line) ? line : undefined;
}

/** The checks the command's action makes (deploy-commands.ts), as predicates: one that fails leaves the line to it, for its message. */
function namesKeepTheirRules({ role, options }: LeanDeployLine): boolean {
  return (
    keeps(ROLE_RULE, role) &&
    keeps(ROLE_RULE, options.env) &&
    (!options.tag || keeps(TAG_RULE, options.tag)) &&
    (!options.strategy || (STRATEGIES as readonly string[]).includes(options.strategy)) &&
    (options.cluster === undefined || keeps(CLUSTER_RULE, options.cluster))
  );
}

/** Starts the deploy and prints it, as the command's action does; errors are thrown for main to report. */
export async function runLeanDeploy({ globals, role, options }: LeanDeployLine, env: CliEnv): Promise<void> {
  // In the action's order: the coordinator and token, then the body (its zone options), then the call.
  const connection = coordinatorConnection(globals, env);
  const deploy = await createDeployCall(connection, deployBody(role, options));
  printOutput(false, deploy, startedLine(deploy));
}
