// `grapevine audit`: who did what in the fleet, newest first, from the coordinator's audit
// log. Lines for people (time, actor, action, what); with --json one entry per line (NDJSON),
// the entries exactly as the API gives them, for jq and log shippers. A note that older
// matching entries were left out goes to stderr, so stdout stays the entries alone.
import type { Command } from 'commander';
import { type AuditEntry, MAX_AUDIT_LIMIT, sinceTime } from '../shared/contract/audit-entry.js';
import { ValidationError } from '../shared/contract/errors.js';
import { envName, roleName } from '../shared/contract/names.js';
import { parseOrThrow } from '../shared/contract/schemas.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';

export interface AuditCommandDeps {
  client: () => CoordinatorClient;
  json: () => boolean;
}

interface Options {
  role?: string;
  env?: string;
  since?: string;
  limit?: string;
}

/** An actor column wider than this would push the rest off most terminals; longer names are cut with '…'. */
const MAX_ACTOR_WIDTH = 40;

export function registerAuditCommand(program: Command, { client, json }: AuditCommandDeps): void {
  program
    .command('audit')
    .description('who did what: publishes, deploys, broken marks, rollbacks, promotions, tokens, slots taken and released, hosts lost (newest first)')
    .option('--role <role>', 'only entries of this role')
    .option('--env <env>', "only entries of this environment (and its role's releases)")
    .option('--since <when>', 'only entries since a duration ago (30m, 1h, 7d) or an ISO time (2026-12-01T09:00:00Z)')
    .option('--limit <n>', `at most this many entries, the newest (1-${MAX_AUDIT_LIMIT}; 100 unless given)`)
    .action(async (options: Options) => {
      const query = {
        ...(options.role === undefined ? {} : { role: parseOrThrow(roleName, options.role, '--role') }),
        ...(options.env === undefined ? {} : { env: parseOrThrow(envName, options.env, '--env') }),
        ...(options.since === undefined ? {} : { since: checkedSince(options.since) }),
        ...(options.limit === undefined ? {} : { limit: auditLimit(options.limit) }),
      };
      const page = await client().audit(query);
      if (json()) {
        process.stdout.write(page.entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      } else {
        process.stdout.write(`${auditTable(page.entries) || 'no audit entries match'}\n`);
      }
      if (page.more) process.stderr.write(`older entries left out: raise --limit (at most ${MAX_AUDIT_LIMIT}) or narrow with --since\n`);
    });
}

/** Named here when malformed; the coordinator reads it against its own clock. */
function checkedSince(since: string): string {
  sinceTime(since, Date.now(), '--since');
  return since.trim();
}

export function auditLimit(text: string): number {
  const limit = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) throw new ValidationError(`--limit must be a whole number from 1 to ${MAX_AUDIT_LIMIT}; got ${JSON.stringify(text)}`);
  return limit;
}

/** The entries as a table (TIME, ACTOR, ACTION, WHAT), in the order given; empty for none. */
export function auditTable(entries: readonly AuditEntry[]): string {
  if (entries.length === 0) return '';
  const actors = entries.map((entry) => clip(entry.actor, MAX_ACTOR_WIDTH));
  const actorWidth = Math.max('ACTOR'.length, ...actors.map((actor) => actor.length));
  const actionWidth = Math.max('ACTION'.length, ...entries.map((entry) => entry.action.length));
  const row = (time: string, actor: string, action: string, what: string) => `${time.padEnd(20)}  ${actor.padEnd(actorWidth)}  ${action.padEnd(actionWidth)}  ${what}`.trimEnd();
  return [row('TIME', 'ACTOR', 'ACTION', 'WHAT'), ...entries.map((entry, i) => row(shortTime(entry.time), actors[i] ?? '', entry.action, whatOf(entry)))].join('\n');
}

/** What the entry is about, in words: `web/production v2 d-... h1: slot 1, epoch 7`. */
export function whatOf(entry: AuditEntry): string {
  const group = entry.role === undefined ? entry.env : entry.env === undefined ? entry.role : `${entry.role}/${entry.env}`;
  const subject = [group, entry.tag, entry.deployId, entry.host].filter((part) => part !== undefined && part !== '').join(' ');
  if (entry.detail === undefined) return subject;
  return subject === '' ? entry.detail : `${subject}: ${entry.detail}`;
}

/** `2026-12-02T11:40:50.123Z` as `2026-12-02 11:40:50Z`; anything else as it is. */
function shortTime(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(iso);
  return match ? `${match[1]} ${match[2]}Z` : iso;
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
