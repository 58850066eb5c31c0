// Views of a deploy whose size does not grow with the fleet: a summary (counts per state,
// no host reports), one host's own view, and pages of host reports. Agents read the host
// view; lists, `--wait` and the dashboard read summaries; whole reports come page by page.
import * as z from 'zod';
import { envName, nodeName, roleName } from './names.js';
import { Deploy, HostReport, HostState } from './schemas.js';

/** Hosts per state of their latest report; a state no host is in is left out. */
export const DeployCounts = z.partialRecord(HostState, z.number().int().nonnegative());
export type DeployCounts = z.infer<typeof DeployCounts>;

/** A summary names the targets of a deploy of at most this many (a catch-up's one host), never more. */
export const SUMMARY_TARGETS = 10;

/** A deploy without its per-host parts: its reports become counts per state, its targets a count (and the list when short). */
export const DeploySummary = Deploy.omit({ hosts: true, hostsNext: true }).extend({
  /** How many targets the deploy has (0 for a deploy created without a target list). */
  targetCount: z.number().int().nonnegative(),
  /** How many hosts reported at all. */
  reported: z.number().int().nonnegative(),
  counts: DeployCounts,
});
export type DeploySummary = z.infer<typeof DeploySummary>;

/** What one host needs of a deploy: the summary, whether it is a target, and its own latest report. */
export const HostDeployView = DeploySummary.extend({
  host: nodeName,
  /** True when the deploy names this host among its targets, or names no target list at all. */
  target: z.boolean(),
  mine: HostReport.optional(),
});
export type HostDeployView = z.infer<typeof HostDeployView>;

/** Answer of `GET /v1/deploys`: newest first; `next` is the cursor of the following page, absent on the last. */
export const DeploySummaryPage = z.object({ deploys: z.array(HostDeployView.or(DeploySummary)), next: z.string().optional() });
export type DeploySummaryPage = { deploys: DeploySummary[]; next?: string };
/** Answer of `GET /v1/deploys` with `host`: each deploy as that host's view. */
export type HostDeployPage = { deploys: HostDeployView[]; next?: string };

/** Answer of `GET /v1/deploys/:id/hosts`: one page of host reports (in no fixed order); `next` absent on the last. */
export const HostReportPage = z.object({ hosts: z.array(HostReport), next: z.string().optional() });
export type HostReportPage = z.infer<typeof HostReportPage>;

/** An empty query value (`?role=`) means no filter, as a shell script leaving a variable unset would expect. */
const emptyAsMissing = (value: unknown) => (value === '' ? undefined : value);
/** A page cursor as the previous answer gave it: opaque, short. */
const cursor = z.string().min(1).max(200).regex(/^[A-Za-z0-9:._-]+$/, 'not a cursor a previous page gave');

export const DeployListQuery = z.object({
  role: z.preprocess(emptyAsMissing, roleName.optional()),
  env: z.preprocess(emptyAsMissing, envName.optional()),
  limit: z.preprocess(emptyAsMissing, z.coerce.number().int().min(1).max(200).default(20)),
  cursor: z.preprocess(emptyAsMissing, cursor.optional()),
  /** A host's own view of each deploy (its report and whether it is a target) instead of the plain summary. */
  host: z.preprocess(emptyAsMissing, nodeName.optional()),
});
export type DeployListQuery = z.infer<typeof DeployListQuery>;

export const HostPageQuery = z.object({
  limit: z.preprocess(emptyAsMissing, z.coerce.number().int().min(1).max(1000).default(500)),
  cursor: z.preprocess(emptyAsMissing, cursor.optional()),
});
export type HostPageQuery = z.infer<typeof HostPageQuery>;

export const DeployHostViewQuery = z.object({ host: nodeName });

/** `GET /v1/deploys/:id` returns every host report up to this many; above, the first page and `hostsNext`. */
export const WHOLE_DEPLOY_HOSTS = 1000;

