// The fleet-wide audit log's contract: one flat entry per thing someone (a person's or CI's
// credential, a host, the coordinator itself) did, as `GET /v1/audit` answers it and
// `grapevine audit` prints it. Field names are stable: scripts and log shippers read them.
import * as z from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import { ValidationError } from './errors.js';
import { envName, roleName } from './names.js';

/** What an entry records; a reader of the log meets only these. */
export const AUDIT_ACTIONS = [
  'release.published',
  'release.broken',
  'deploy.started',
  'rollback.started',
  'promotion.started',
  'catch-up.started',
  'deploy.finished',
  'promotion.failed',
  'slot.taken',
  'slot.released',
  'host.lost',
  'host.forgotten',
  'group.frozen',
  'group.unfrozen',
  'group.switched',
  'routes.changed',
  'cluster.retired',
  'token.created',
  'token.revoked',
  'serf.key-rotated',
  'flag.changed',
  'flag.killed',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One entry as written, before Redis gives it its id. Absent fields do not apply to the action. */
export const NewAuditEntry = z.object({
  /** When the coordinator made the change or learned of it (ISO 8601, UTC). */
  time: z.string(),
  /** Who: a credential's actor (`deployer ci-web (t-3f9a2c1b)`), a host's name, or `coordinator`. */
  actor: z.string(),
  /** One of AUDIT_ACTIONS; read as any string, so an older CLI prints a newer coordinator's actions. */
  action: z.string(),
  role: z.string().optional(),
  env: z.string().optional(),
  deployId: z.string().optional(),
  tag: z.string().optional(),
  host: z.string().optional(),
  /** The rest in words: a reason, an outcome, a slot and its epoch, a token's id, scope and name. */
  detail: z.string().optional(),
});
export type NewAuditEntry = z.infer<typeof NewAuditEntry>;

/** An entry as read back: `id` is its stream id (`<ms>-<n>`), in the order the coordinator wrote them. */
export const AuditEntry = NewAuditEntry.extend({ id: z.string() });
export type AuditEntry = z.infer<typeof AuditEntry>;

/** Answer of `GET /v1/audit`: newest first; `more` when older matching entries were left out (limit or search bound). */
export const AuditPage = z.object({ entries: z.array(AuditEntry), more: z.boolean() });
export type AuditPage = z.infer<typeof AuditPage>;

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;

/** Which entries a reader wants. */
export interface AuditFilter {
  role?: string;
  env?: string;
}

/** An empty query value (`?role=`) means no filter, as a shell script leaving a variable unset would expect. */
const emptyAsMissing = (value: unknown) => (value === '' ? undefined : value);

/** Query of `GET /v1/audit`. */
export const AuditQuery = z.object({
  role: z.preprocess(emptyAsMissing, roleName.optional()),
  env: z.preprocess(emptyAsMissing, envName.optional()),
  since: z.preprocess(emptyAsMissing, z.string().max(64).optional()),
  limit: z.preprocess(emptyAsMissing, z.coerce.number().int().min(1).max(MAX_AUDIT_LIMIT).default(DEFAULT_AUDIT_LIMIT)),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

/**
 * Whether `entry` is one `filter` asks for. `env` keeps that environment's entries and the
 * role-wide ones of a matching role (a publish, a broken mark: they hold in every
 * environment); entries of no role (tokens, the Serf key) match no role or env filter.
 */
export function matchesAuditFilter(entry: { role?: string | undefined; env?: string | undefined }, filter: AuditFilter): boolean {
  if (filter.role !== undefined && entry.role !== filter.role) return false;
  if (filter.env !== undefined) {
    if (entry.env !== undefined) return entry.env === filter.env;
    return entry.role !== undefined;
  }
  return true;
}

/** A date, or a date and time with its offset: a time without one would mean the coordinator's zone or the CLI's. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * The moment `since` names (ms since the epoch): a duration back from `now` (`30m`, `1h`,
 * `7d`) or an ISO 8601 time (`2026-12-01`, `2026-12-01T09:00:00Z`). A ValidationError
 * naming `what` otherwise.
 */
export function sinceTime(since: string, now: number, what = 'since'): number {
  const text = since.trim();
  if (DURATION_PATTERN.test(text)) return now - parseDuration(text, what);
  const at = ISO_TIME.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new ValidationError(
      `${what} must be a duration (30m, 1h, 7d) or an ISO 8601 time with its offset (2026-12-01T09:00:00Z, or a date: 2026-12-01); got ${JSON.stringify(since)}`,
    );
  }
  return at;
}
