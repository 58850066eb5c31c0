// `grapevine history ROLE --env ENV`: the group's deploys, newest first, each with its tag,
// kind (rollout, rollback, promotion, catch-up), start, duration, who started it and how it
// ended and why. With --json, a JSON array of the same rows (times in ISO 8601, durations in ms).
import type { Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import { envName, roleName } from '../shared/contract/names.js';
import { parseOrThrow, type Deploy } from '../shared/contract/schemas.js';
import type { DeploySummary } from '../shared/contract/deploy-views.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';

export interface HistoryCommandDeps {
  client: () => CoordinatorClient;
  print: (value: unknown, text: string) => void;
}

/** What the coordinator lists at most per request. */
export const MAX_HISTORY_LIMIT = 200;
const DEFAULT_HISTORY_LIMIT = 20;

export type DeployKind = 'rollout' | 'rollback' | 'promotion' | 'catch-up';

/** One deploy as history shows it. */
export interface HistoryRow {
  id: string;
  role: string;
  env: string;
  tag: string;
  kind: DeployKind;
  /** The tag a rollback replaced, the deploy a promotion came from, the rollout a catch-up followed. */
  rollbackOf?: string;
  promotedFrom?: string;
  catchUpOf?: string;
  /** The deploy this one promoted its tag to, when it did. */
  promotedTo?: string;
  status: Deploy['status'];
  reason?: string;
  startedBy?: string;
  startedAt: string;
  finishedAt?: string;
  /** From start to end; to now for a deploy still in progress. */
  durationMs: number;
}

export function registerHistoryCommand(program: Command, { client, print }: HistoryCommandDeps): void {
  program
    .command('history <role>')
    .description("ROLE's deploys to ENV, newest first: tag, kind, start, duration, who started it, outcome and why")
    .requiredOption('--env <env>', 'environment, e.g. production')
    .option('--limit <n>', `at most this many deploys (1-${MAX_HISTORY_LIMIT}; ${DEFAULT_HISTORY_LIMIT} unless given)`)
    .action(async (role: string, options: { env: string; limit?: string }) => {
      const deploys = await client().listDeploys({
        role: parseOrThrow(roleName, role, 'role'),
        env: parseOrThrow(envName, options.env, '--env'),
        limit: options.limit === undefined ? DEFAULT_HISTORY_LIMIT : historyLimit(options.limit),
      });
      const rows = deploys.map((deploy) => historyRow(deploy, Date.now()));
      print(rows, historyTable(rows) || `no deploys of ${role} to ${options.env} yet`);
    });
}

export function historyLimit(text: string): number {
  const limit = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) throw new ValidationError(`--limit must be a whole number from 1 to ${MAX_HISTORY_LIMIT}; got ${JSON.stringify(text)}`);
  return limit;
}

export function historyRow(deploy: Deploy | DeploySummary, now: number): HistoryRow {
  return {
    id: deploy.id,
    role: deploy.role,
    env: deploy.env,
    tag: deploy.tag,
    kind: kindOf(deploy),
    ...(deploy.rollbackOf === undefined ? {} : { rollbackOf: deploy.rollbackOf }),
    ...(deploy.promotedFrom === undefined ? {} : { promotedFrom: deploy.promotedFrom }),
    ...(deploy.catchUpOf === undefined ? {} : { catchUpOf: deploy.catchUpOf }),
    ...(deploy.promotedTo === undefined ? {} : { promotedTo: deploy.promotedTo }),
    status: deploy.status,
    ...(deploy.reason === undefined ? {} : { reason: deploy.reason }),
    ...(deploy.startedBy === undefined ? {} : { startedBy: deploy.startedBy }),
    startedAt: new Date(deploy.createdAt).toISOString(),
    ...(deploy.finishedAt === undefined ? {} : { finishedAt: new Date(deploy.finishedAt).toISOString() }),
    durationMs: Math.max(0, (deploy.finishedAt ?? now) - deploy.createdAt),
  };
}

function kindOf(deploy: Deploy | DeploySummary): DeployKind {
  if (deploy.rollbackOf !== undefined) return 'rollback';
  if (deploy.promotedFrom !== undefined) return 'promotion';
  if (deploy.catchUpOf !== undefined) return 'catch-up';
  return 'rollout';
}

/** The rows as a table, in the order given; empty for none. The outcome comes last: its reason may be long. */
export function historyTable(rows: readonly HistoryRow[]): string {
  if (rows.length === 0) return '';
  const cells = rows.map((row) => [
    row.id,
    row.tag,
    row.kind,
    `${row.startedAt.slice(0, 10)} ${row.startedAt.slice(11, 19)}Z`,
    row.status === 'in_progress' ? `${formatDuration(row.durationMs)} so far` : formatDuration(row.durationMs),
    row.startedBy ?? '-',
    outcomeOf(row),
  ]);
  const head = ['DEPLOY', 'TAG', 'KIND', 'STARTED', 'DURATION', 'STARTED BY', 'OUTCOME'];
  const widths = head.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column]?.length ?? 0)));
  const line = (cell: string[]) =>
    cell
      .map((text, column) => (column === cell.length - 1 ? text : text.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), ...cells.map(line)].join('\n');
}

function outcomeOf(row: HistoryRow): string {
  const status = row.status === 'in_progress' ? 'in progress' : row.status;
  const also = [
    row.rollbackOf === undefined ? undefined : `replaced ${row.rollbackOf}`,
    row.promotedFrom === undefined ? undefined : `from ${row.promotedFrom}`,
    row.catchUpOf === undefined ? undefined : `after ${row.catchUpOf}`,
    row.promotedTo === undefined ? undefined : `promoted as ${row.promotedTo}`,
  ].filter((part) => part !== undefined);
  return `${status}${row.reason === undefined ? '' : `: ${row.reason}`}${also.length === 0 ? '' : ` (${also.join('; ')})`}`;
}

/** `850 ms`, `32.4 s`, `4 m 05 s`, `1 h 02 m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} m ${String(seconds % 60).padStart(2, '0')} s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} m`;
}
