// `grapevine freeze ROLE --env ENV --reason TEXT [--until TIME]` and `grapevine unfreeze`:
// park a group's rollouts (waiting hosts take no slot, hosts mid-deploy finish their own
// host; new deploys are refused unless an operator forces them) and resume them.
import type { Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import { DURATION_PATTERN, parseDuration } from '../shared/contract/duration.js';
import { describeFreeze, MAX_FREEZE_MS, type FreezeMark } from '../shared/contract/freeze.js';
import { envName, roleName } from '../shared/contract/names.js';
import { parseOrThrow } from '../shared/contract/schemas.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';

export interface FreezeCommandDeps {
  client: () => CoordinatorClient;
  print: (value: unknown, text: string) => void;
}

/** A date and time with its zone (`2026-12-02T18:00Z`, `2026-12-02T18:00:00+01:00`): a time without one would mean a different moment on each laptop. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `--until` as ms since the epoch: an ISO 8601 time with its zone, or a duration from now (30m, 2h, 1d); a clear error otherwise. */
export function parseUntil(text: string, now: number): number {
  const trimmed = text.trim();
  let until: number;
  if (DURATION_PATTERN.test(trimmed)) {
    until = now + parseDuration(trimmed, '--until');
  } else if (ISO_TIME.test(trimmed) && !Number.isNaN(Date.parse(trimmed))) {
    until = Date.parse(trimmed);
  } else {
    throw new ValidationError(`--until must be an ISO 8601 time with its zone (e.g. 2026-12-02T18:00Z) or a duration from now (e.g. 30m, 2h, 1d); got ${JSON.stringify(text)}`);
  }
  if (until <= now) throw new ValidationError(`--until must be in the future; got ${new Date(until).toISOString()}`);
  if (until - now > MAX_FREEZE_MS) throw new ValidationError(`--until must be at most 7 days ahead; got ${new Date(until).toISOString()}`);
  return until;
}

/** The line `status` prints under a frozen group's deploy. */
export function freezeLine(mark: FreezeMark): string {
  return `FROZEN ${describeFreeze(mark)}`;
}

export function registerFreezeCommands(program: Command, { client, print }: FreezeCommandDeps): void {
  program
    .command('freeze <role>')
    .description("park ROLE's rollouts in ENV (operator): waiting hosts take no slot, hosts mid-deploy finish; new deploys are refused unless forced")
    .requiredOption('--env <env>', 'environment, e.g. production')
    .requiredOption('--reason <text>', 'why, for whoever tries to deploy meanwhile (at most 500 characters)')
    .option('--until <time>', 'lapse by itself then: an ISO 8601 time with its zone, or a duration from now (30m, 2h; at most 7 days)')
    .action(async (role: string, options: { env: string; reason: string; until?: string }) => {
      const reason = options.reason.trim();
      if (reason === '') throw new ValidationError('--reason must say why the group is frozen');
      if (reason.length > 500) throw new ValidationError(`--reason must be at most 500 characters; got ${reason.length}`);
      const until = options.until === undefined ? undefined : parseUntil(options.until, Date.now());
      const group = { role: parseOrThrow(roleName, role, 'role'), env: parseOrThrow(envName, options.env, '--env') };
      const mark = await client().freeze(group.role, group.env, { reason, ...(until === undefined ? {} : { until }) });
      print({ role: group.role, env: group.env, frozen: mark }, `froze ${group.role}/${group.env}: ${describeFreeze(mark)}; waiting hosts take no slot until: grapevine unfreeze ${group.role} --env ${group.env}`);
    });

  program
    .command('unfreeze <role>')
    .description("resume ROLE's rollouts in ENV (operator): held hosts take slots again and parked deploys get their frozen time back")
    .requiredOption('--env <env>', 'environment, e.g. production')
    .action(async (role: string, options: { env: string }) => {
      const group = { role: parseOrThrow(roleName, role, 'role'), env: parseOrThrow(envName, options.env, '--env') };
      const answer = await client().unfreeze(group.role, group.env);
      const resumed = answer.extended.length === 0 ? 'no deploy was in progress' : `deploys resumed with their frozen time back: ${answer.extended.join(', ')}`;
      print({ role: group.role, env: group.env, ...answer }, `unfroze ${group.role}/${group.env} after ${Math.round(answer.frozenMs / 1000)} s (${answer.unfrozen.reason}); ${resumed}`);
    });
}
