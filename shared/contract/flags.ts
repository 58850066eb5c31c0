// Feature flags, per environment: what the coordinator keeps (README, "Feature flags"), the
// management API's bodies and answers, and the OFREP answers applications read them through.
// A flag decides which of its variants a request gets; coordinator/flags/ holds the rules.
import * as z from 'zod';

export const flagName = z
  .string()
  .regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9 and _ . -, starting with a letter');
export const variantName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 characters of letters, digits and _ . -, starting with a letter or digit');
/** A targeting key as applications send it (a user id, an account id): anything printable, not too long. */
export const targetingKey = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');
export const segmentName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'must be 1-64 characters of letters, digits and _ . : -');
export const variantValue = z.union([z.string().max(1000, 'must be at most 1000 characters'), z.number().finite(), z.boolean()]);
export type VariantValue = z.infer<typeof variantValue>;

export const MAX_VARIANTS = 10;
export const MAX_USERS = 1000;
export const MAX_SEGMENTS = 100;
export const DEFAULT_VARIANTS: Readonly<Record<string, VariantValue>> = Object.freeze({ on: true, off: false });

/** A percentage to 0.01: the buckets are 10 000 (coordinator/flags/flag-evaluation.ts). */
const percent = z
  .number()
  .min(0, 'must be from 0 to 100')
  .max(100, 'must be from 0 to 100')
  .refine((value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, 'must have at most two decimals (0.01 steps)');

const variants = z
  .record(variantName, variantValue)
  .refine((map) => Object.keys(map).length >= 1, 'must name at least one variant')
  .refine((map) => Object.keys(map).length <= MAX_VARIANTS, `must be at most ${MAX_VARIANTS}`)
  .refine((map) => new Set(Object.values(map).map((value) => typeof value)).size <= 1, 'must all be of one type: strings, numbers or booleans');

/** Who turned the flag off with the kill switch; while set, everyone gets the off variant. */
export const KillMark = z.object({ by: z.string().min(1), at: z.number().int().nonnegative(), reason: z.string().max(500).optional() });
export type KillMark = z.infer<typeof KillMark>;

/** A flag as stored and as `GET /v1/flags` lists it. */
export const Flag = z.object({
  name: flagName,
  env: z.string(),
  /** Off: everyone gets offVariant (reason DISABLED). */
  enabled: z.boolean(),
  variants,
  onVariant: variantName,
  offVariant: variantName,
  /** Targeting keys that get onVariant. */
  users: z.array(targetingKey).max(MAX_USERS),
  /** Matched against the evaluation context's `segment` or `segments`. */
  segments: z.array(segmentName).max(MAX_SEGMENTS),
  /** The share of targeting keys (consistent hashing) that get onVariant; none: no percentage rollout. */
  percent: percent.optional(),
  killed: KillMark.optional(),
  description: z.string().max(500).optional(),
  /** 1 when created, one more on every change. */
  version: z.number().int().positive(),
  updatedBy: z.string(),
  updatedAt: z.number().int().nonnegative(),
});
export type Flag = z.infer<typeof Flag>;

/**
 * Body of `PUT /v1/flags/:env/:name`. Fields given replace the flag's; fields left out keep
 * their value (a new flag: enabled, variants on=true/off=false, no targeting). `percent: null`
 * ends a percentage rollout; `users: []` and `segments: []` clear those lists. A killed flag
 * stays killed until a body says `enabled: true`.
 */
export const FlagSettings = z.strictObject({
  enabled: z.boolean().optional(),
  variants: variants.optional(),
  onVariant: variantName.optional(),
  offVariant: variantName.optional(),
  users: z.array(targetingKey).max(MAX_USERS, `must list at most ${MAX_USERS} targeting keys`).optional(),
  segments: z.array(segmentName).max(MAX_SEGMENTS, `must list at most ${MAX_SEGMENTS} segments`).optional(),
  percent: percent.nullable().optional(),
  description: z.string().max(500, 'must be at most 500 characters').optional(),
});
export type FlagSettings = z.infer<typeof FlagSettings>;

/** Body of `POST /v1/flags/:env/:name/kill`; who killed it is the request's credential. */
export const KillBody = z.strictObject({ reason: z.string().min(1, 'must not be empty').max(500, 'must be at most 500 characters').optional() });
export type KillBody = z.infer<typeof KillBody>;

/** Answer of `PUT` and `POST .../kill`: the flag after the change; `created` on a flag's first set, `changed` false when a kill found it killed. */
export const FlagAnswer = z.object({ flag: Flag, created: z.boolean().optional(), changed: z.boolean() });
export type FlagAnswer = z.infer<typeof FlagAnswer>;

/** Answer of `GET /v1/flags[?env=]`: every flag, by environment then name. */
export const FlagList = z.object({ flags: z.array(Flag) });
export type FlagList = z.infer<typeof FlagList>;

/** Answer of `DELETE /v1/flags/:env/:name`: the flag as it was. */
export const DeletedFlag = z.object({ deleted: Flag });

/** Who gets what, in words: `on (true) for 30 % of keys and 2 users`, `killed by ...`. */
export function describeFlag(flag: Flag): string {
  const on = `${flag.onVariant} (${JSON.stringify(flag.variants[flag.onVariant])})`;
  const off = `${flag.offVariant} (${JSON.stringify(flag.variants[flag.offVariant])})`;
  if (flag.killed !== undefined) return `killed by ${flag.killed.by}${flag.killed.reason === undefined ? '' : `: ${flag.killed.reason}`}; everyone gets ${off}`;
  if (!flag.enabled) return `disabled; everyone gets ${off}`;
  const who: string[] = [];
  if (flag.users.length > 0) who.push(`${flag.users.length} user${flag.users.length === 1 ? '' : 's'}`);
  if (flag.segments.length > 0) who.push(`segment${flag.segments.length === 1 ? '' : 's'} ${flag.segments.join(', ')}`);
  if (flag.percent !== undefined) who.push(`${flag.percent} % of keys`);
  if (who.length === 0) return `${on} for everyone`;
  return `${on} for ${who.join(' and ')}; others ${off}`;
}

/** OpenFeature's reasons that Grapevine's evaluation gives. */
export type EvaluationReason = 'STATIC' | 'TARGETING_MATCH' | 'SPLIT' | 'DISABLED' | 'DEFAULT';
/** OFREP's error codes (service/openapi.yaml of open-feature/protocol). */
export type OfrepErrorCode = 'PARSE_ERROR' | 'TARGETING_KEY_MISSING' | 'INVALID_CONTEXT' | 'GENERAL' | 'FLAG_NOT_FOUND';

/** An OFREP evaluation success, as `POST .../ofrep/v1/evaluate/flags[/:key]` answers it. */
export interface OfrepSuccess {
  key: string;
  value: VariantValue;
  reason: EvaluationReason;
  variant: string;
  metadata: Record<string, string | number | boolean>;
}

export interface OfrepFailure {
  key: string;
  errorCode: OfrepErrorCode;
  errorDetails: string;
}
