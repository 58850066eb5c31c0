// `grapevine flag set|kill|list|rm`: feature flags kept by the coordinator, per environment,
// which applications evaluate over OFREP (`<coordinator>/envs/<env>` as the provider's base URL).
import type { Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import { DeletedFlag, FlagAnswer, FlagList, FlagSettings, describeFlag, flagName, type Flag, type VariantValue } from '../shared/contract/flags.js';
import { envName } from '../shared/contract/names.js';
import { parseOrThrow } from '../shared/contract/schemas.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';

export interface FlagCommandDeps {
  client: () => CoordinatorClient;
  print: (value: unknown, text: string) => void;
}

interface SetOptions {
  env: string;
  on?: boolean;
  off?: boolean;
  percent?: string;
  users?: string;
  segments?: string;
  variant?: string[];
  serveOn?: string;
  serveOff?: string;
  description?: string;
}

/** The body's fields as the command line names them, so an error points at the option to fix. */
const OPTION_OF: Record<string, string> = {
  enabled: '--on/--off',
  percent: '--percent',
  users: '--users',
  segments: '--segments',
  variants: '--variant',
  onVariant: '--serve-on',
  offVariant: '--serve-off',
  description: '--description',
};

/** `NAME=VALUE`: true/false and numbers are read as such, anything else is a string. */
export function parseVariant(text: string): [string, VariantValue] {
  const at = text.indexOf('=');
  if (at <= 0) throw new ValidationError(`--variant must be NAME=VALUE (e.g. blue=#0000ff, limit=100, on=true); got ${JSON.stringify(text)}`);
  const name = text.slice(0, at);
  const raw = text.slice(at + 1);
  if (raw === 'true' || raw === 'false') return [name, raw === 'true'];
  const number = Number(raw);
  return [name, raw.trim() !== '' && Number.isFinite(number) ? number : raw];
}

/** A comma-separated list; an empty one (`--users ''`) clears the list. */
const listOf = (text: string) => text.split(',').map((item) => item.trim()).filter((item) => item !== '');

/** The PUT body `set`'s options make, validated as the coordinator will (errors name the option). */
export function settingsOf(options: SetOptions): FlagSettings {
  if (options.on && options.off) throw new ValidationError('--on and --off cannot both be given');
  const body: Record<string, unknown> = {};
  if (options.on) body.enabled = true;
  if (options.off) body.enabled = false;
  if (options.percent !== undefined) {
    const text = options.percent.trim().replace(/%$/, '');
    const percent = text === 'none' ? null : Number(text);
    if (percent !== null && (text === '' || !Number.isFinite(percent))) throw new ValidationError(`--percent must be a number from 0 to 100 (or none); got ${JSON.stringify(options.percent)}`);
    body.percent = percent;
  }
  if (options.users !== undefined) body.users = listOf(options.users);
  if (options.segments !== undefined) body.segments = listOf(options.segments);
  if (options.variant !== undefined) body.variants = Object.fromEntries(options.variant.map(parseVariant));
  if (options.serveOn !== undefined) body.onVariant = options.serveOn;
  if (options.serveOff !== undefined) body.offVariant = options.serveOff;
  if (options.description !== undefined) body.description = options.description;
  const result = FlagSettings.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = String(issue.path[0] ?? '');
  const got = field === '' ? '' : `; got ${JSON.stringify(body[field])}`;
  throw new ValidationError(`${OPTION_OF[field] ?? field} ${issue.path.length > 1 ? `(${issue.path.slice(1).join('.')}) ` : ''}${issue.message}${got}`);
}

/** One line of `flag list`. */
function flagLine(flag: Flag): string {
  return `${flag.env.padEnd(12)} ${flag.name.padEnd(24)} v${String(flag.version).padEnd(4)} ${describeFlag(flag)}`;
}

const where = (env: string, name: string) => `/v1/flags/${encodeURIComponent(env)}/${encodeURIComponent(name)}`;

export function registerFlagCommands(program: Command, { client, print }: FlagCommandDeps): void {
  const flag = program.command('flag').description('feature flags per environment, served to applications over OFREP at <coordinator>/envs/<env>');

  flag
    .command('set <name>')
    .description('create or change a flag (deployer): options given replace those settings, the rest are kept')
    .requiredOption('--env <env>', 'environment, e.g. production')
    .option('--on', 'enable it (and turn off its kill switch)')
    .option('--off', 'disable it: everyone gets the off variant')
    .option('--percent <n>', 'roll the on variant out to this share of targeting keys (0-100, to 0.01; none ends the rollout)')
    .option('--users <keys>', "targeting keys that get the on variant, comma-separated ('' clears)")
    .option('--segments <names>', "segments (the context's segment/segments) that get the on variant ('' clears)")
    .option('--variant <name=value...>', 'the variants, replacing all (default on=true off=false); values true/false and numbers are typed')
    .option('--serve-on <variant>', 'the variant targeted keys get (default on)')
    .option('--serve-off <variant>', 'the variant everyone else gets (default off)')
    .option('--description <text>', 'what the flag is for')
    .action(async (name: string, options: SetOptions) => {
      const env = parseOrThrow(envName, options.env, '--env');
      const key = parseOrThrow(flagName, name, 'flag name');
      const answer = await client().send('PUT', where(env, key), FlagAnswer, settingsOf(options));
      const set = answer.flag;
      const still = set.killed === undefined ? '' : `; its kill switch stays on until: grapevine flag set ${key} --env ${env} --on`;
      print(answer, `${answer.created ? 'created' : 'set'} flag ${key} in ${env} (version ${set.version}): ${describeFlag(set)}${still}`);
    });

  flag
    .command('kill <name>')
    .description('pull the kill switch (deployer): everyone gets the off variant at once, until it is set --on again')
    .requiredOption('--env <env>', 'environment, e.g. production')
    .option('--reason <text>', 'why, for the audit log and the notification (at most 500 characters)')
    .action(async (name: string, options: { env: string; reason?: string }) => {
      const env = parseOrThrow(envName, options.env, '--env');
      const key = parseOrThrow(flagName, name, 'flag name');
      const reason = options.reason?.trim();
      if (reason !== undefined && (reason === '' || reason.length > 500)) throw new ValidationError('--reason must be 1-500 characters');
      const answer = await client().send('POST', `${where(env, key)}/kill`, FlagAnswer, reason === undefined ? {} : { reason });
      const killed = answer.flag.killed;
      print(answer, answer.changed ? `killed flag ${key} in ${env}: everyone gets ${answer.flag.offVariant}` : `flag ${key} in ${env} was killed already (by ${killed?.by} at ${new Date(killed?.at ?? 0).toISOString()})`);
    });

  flag
    .command('list')
    .description("every flag (viewer), or one environment's")
    .option('--env <env>', 'only this environment')
    .action(async (options: { env?: string }) => {
      const env = options.env === undefined ? undefined : parseOrThrow(envName, options.env, '--env');
      const answer = await client().send('GET', `/v1/flags${env === undefined ? '' : `?env=${encodeURIComponent(env)}`}`, FlagList);
      print(answer, answer.flags.length === 0 ? `no flags${env === undefined ? '' : ` in ${env}`}` : answer.flags.map(flagLine).join('\n'));
    });

  flag
    .command('rm <name>')
    .description('delete a flag (operator): applications get their code default from then on')
    .requiredOption('--env <env>', 'environment, e.g. production')
    .action(async (name: string, options: { env: string }) => {
      const env = parseOrThrow(envName, options.env, '--env');
      const key = parseOrThrow(flagName, name, 'flag name');
      const answer = await client().send('DELETE', where(env, key), DeletedFlag);
      print(answer, `deleted flag ${key} from ${env} (it was at version ${answer.deleted.version})`);
    });
}
