// Where the coordinator sends word of rollouts (README, "Insight"): Slack-compatible incoming
// webhooks and signed JSON webhooks, each matched on role and environment. A target's URL
// (a Slack webhook's URL is itself a secret) and a JSON target's signing secret live in
// files of their own, read at start; neither is ever put in the config, a log or an error.
import { readFileSync, statSync } from 'node:fs';
import * as z from 'zod';
import { ConfigError, errorMessage } from './errors.js';
import { envName, roleName } from './names.js';

/** What a target can be told of; `events` in a target's config lists some of these. */
export const NOTIFICATION_KINDS = [
  'deploy.started',
  'rollback.started',
  'promotion.started',
  'deploy.succeeded',
  'deploy.failed',
  'deploy.cancelled',
  'deploy.partial',
  'release.broken',
  'promotion.failed',
  'group.frozen',
  'group.unfrozen',
  'flag.changed',
  'flag.killed',
  'routes.changed',
  'cluster.retired',
] as const;
export const NotificationKind = z.enum(NOTIFICATION_KINDS);
export type NotificationKind = z.infer<typeof NotificationKind>;

/** Shorter secrets are guessable; a receiver could not trust a signature made with one. */
export const MIN_SECRET_LENGTH = 16;

const absolutePath = z.string().regex(/^\/[A-Za-z0-9._/@+-]*$/, 'must be an absolute path of plain characters');
const targetName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9 and . _ -, starting with a letter or digit');

/** A name or a list of names, read as a list. */
const oneOrMore = <T extends z.ZodType<string>>(name: T) =>
  z.union([name, z.array(name).min(1, 'must name at least one')]).transform((value) => (Array.isArray(value) ? value : [value]));

export const NotificationTargetConfig = z
  .strictObject({
    /** Names the target in logs and in the webhook-failure metric: never the URL. */
    name: targetName,
    /** `slack`: a Slack-compatible incoming webhook (`{"text", "blocks"}`); `json`: the notification as versioned JSON, signed. */
    type: z.enum(['slack', 'json']),
    /** A file (mode 0600, or 0640) holding the target's http(s) URL and nothing else. */
    urlFile: absolutePath,
    /** For `json`: a file (mode 0600, or 0640) holding the HMAC-SHA256 signing secret, at least 16 characters. */
    secretFile: absolutePath.optional(),
    /** Roles this target hears of; every role when unset. */
    role: oneOrMore(roleName).optional(),
    /** Environments this target hears of; every environment when unset. */
    env: oneOrMore(envName).optional(),
    /** What this target hears of; everything when unset. */
    events: z.array(NotificationKind).min(1, 'must name at least one kind, or be left out for all').optional(),
  })
  .superRefine((target, context) => {
    if (target.type === 'json' && target.secretFile === undefined) {
      context.addIssue({ code: 'custom', path: ['secretFile'], message: 'is required for a json target: its deliveries are signed with it' });
    }
    if (target.type === 'slack' && target.secretFile !== undefined) {
      context.addIssue({ code: 'custom', path: ['secretFile'], message: 'is only for json targets: a Slack webhook is not signed (its URL is its secret)' });
    }
  });
export type NotificationTargetConfig = z.infer<typeof NotificationTargetConfig>;

export const NotificationTargetsConfig = z.array(NotificationTargetConfig).superRefine((targets, context) => {
  const seen = new Set<string>();
  for (const [index, target] of targets.entries()) {
    if (seen.has(target.name)) context.addIssue({ code: 'custom', path: [index, 'name'], message: `${target.name} names two targets; each needs its own name` });
    seen.add(target.name);
  }
});

/** A target as the notifier uses it: its URL and secret read from their files. */
export interface NotificationTarget {
  name: string;
  type: 'slack' | 'json';
  url: URL;
  /** Set for `json` targets. */
  secret?: string;
  roles?: readonly string[];
  envs?: readonly string[];
  events?: readonly NotificationKind[];
}

/**
 * Reads every target's URL and secret files and lists what is wrong with them, each problem
 * naming the field and the file but never what the file holds.
 */
export function settleNotificationTargets(configs: readonly NotificationTargetConfig[]): { targets: NotificationTarget[]; problems: string[] } {
  const targets: NotificationTarget[] = [];
  const problems: string[] = [];
  for (const [index, config] of configs.entries()) {
    const field = (name: string) => `notifications.${index}.${name} (${config.name})`;
    const urlText = readSecretFile(config.urlFile);
    let url: URL | undefined;
    if ('problem' in urlText) problems.push(`${field('urlFile')} ${urlText.problem}`);
    else {
      url = webhookUrl(urlText.text);
      if (!url) problems.push(`${field('urlFile')} (${config.urlFile}) must hold one http:// or https:// URL with a host and nothing else`);
    }
    let secret: string | undefined;
    if (config.secretFile !== undefined) {
      const read = readSecretFile(config.secretFile);
      if ('problem' in read) problems.push(`${field('secretFile')} ${read.problem}`);
      else if (read.text.length < MIN_SECRET_LENGTH) problems.push(`${field('secretFile')} (${config.secretFile}) must hold a secret of at least ${MIN_SECRET_LENGTH} characters`);
      else secret = read.text;
    }
    if (!url) continue;
    targets.push({
      name: config.name,
      type: config.type,
      url,
      ...(secret === undefined ? {} : { secret }),
      ...(config.role === undefined ? {} : { roles: config.role }),
      ...(config.env === undefined ? {} : { envs: config.env }),
      ...(config.events === undefined ? {} : { events: config.events }),
    });
  }
  return { targets, problems };
}

/** The targets as the coordinator starts with them; a ConfigError listing every problem otherwise (files change after the config was loaded). */
export function readNotificationTargets(configs: readonly NotificationTargetConfig[]): NotificationTarget[] {
  const { targets, problems } = settleNotificationTargets(configs);
  if (problems.length > 0) throw new ConfigError(`coordinator config is invalid: ${problems.join('; ')}`);
  return targets;
}

/** Only http(s) with a host, no credentials in it (they would travel as a header nobody asked for). */
function webhookUrl(text: string): URL | undefined {
  if (/\s/.test(text)) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '' || url.username !== '' || url.password !== '') return undefined;
  return url;
}

/** A file only its owner (and the service's group) may read: it holds a webhook URL or a signing secret. */
function readSecretFile(file: string): { text: string } | { problem: string } {
  try {
    if ((statSync(file).mode & 0o027) !== 0) return { problem: `(${file}) may be read or changed by other users: chmod 600 ${file} (or 640 with the service's group)` };
    const text = readFileSync(file, 'utf8').trim();
    if (text === '') return { problem: `(${file}) is empty` };
    return { text };
  } catch (error) {
    return { problem: `(${file}) cannot be read: ${errorMessage(error)}` };
  }
}
