// Which variant a flag gives one evaluation context: the rules OFREP answers with, pure.
// Killed or disabled: off (DISABLED). A listed user or a matching segment: on (TARGETING_MATCH).
// A percentage: the key's bucket decides (SPLIT either way). Targeting that matched nothing:
// off (DEFAULT). No targeting at all: on for everyone (STATIC).
import { createHash } from 'node:crypto';
import type { EvaluationReason, Flag, OfrepErrorCode, VariantValue } from '../../shared/contract/flags.js';

/** Buckets of the percentage rollout: 0.01 % each. */
export const BUCKETS = 10_000;

/** What the evaluation reads of OFREP's context; anything else in it is ignored. */
export interface EvaluationContext {
  targetingKey?: string;
  segments: string[];
}

export type Evaluation =
  | { ok: true; variant: string; value: VariantValue; reason: EvaluationReason }
  | { ok: false; errorCode: OfrepErrorCode; errorDetails: string };

/**
 * The key's bucket for this flag (0..9999): the first 4 bytes of sha256(flag name, NUL, key)
 * as an unsigned number, modulo the buckets. Salting with the flag's name keeps one user from
 * being first in every rollout; a bucket never moves, so a key in at 10 % is in at 20 %.
 */
export function bucketOf(flagName: string, key: string): number {
  const digest = createHash('sha256').update(`${flagName}\u0000${key}`).digest();
  return digest.readUInt32BE(0) % BUCKETS;
}

/** Whether `key` is inside a `percent` rollout of the flag: its bucket below percent x 100. */
export function inRollout(flagName: string, key: string, percent: number): boolean {
  return bucketOf(flagName, key) < Math.round(percent * 100);
}

export function evaluateFlag(flag: Flag, context: EvaluationContext): Evaluation {
  const give = (variant: string, reason: EvaluationReason): Evaluation => ({ ok: true, variant, value: flag.variants[variant] as VariantValue, reason });
  if (flag.killed !== undefined || !flag.enabled) return give(flag.offVariant, 'DISABLED');
  const key = context.targetingKey;
  if (key !== undefined && flag.users.includes(key)) return give(flag.onVariant, 'TARGETING_MATCH');
  if (context.segments.some((segment) => flag.segments.includes(segment))) return give(flag.onVariant, 'TARGETING_MATCH');
  if (flag.percent !== undefined) {
    if (key === undefined) {
      return { ok: false, errorCode: 'TARGETING_KEY_MISSING', errorDetails: `flag ${flag.name} rolls out to ${flag.percent} % of targeting keys: the context needs a targetingKey` };
    }
    return give(inRollout(flag.name, key, flag.percent) ? flag.onVariant : flag.offVariant, 'SPLIT');
  }
  if (flag.users.length > 0 || flag.segments.length > 0) return give(flag.offVariant, 'DEFAULT');
  return give(flag.onVariant, 'STATIC');
}

/**
 * OFREP's context as the evaluation reads it, or why it cannot be read (INVALID_CONTEXT):
 * `targetingKey` a non-empty string when given, `segment` a string, `segments` strings.
 */
export function readContext(raw: unknown): { ok: true; context: EvaluationContext } | { ok: false; errorDetails: string } {
  if (raw === undefined || raw === null) return { ok: true, context: { segments: [] } };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, errorDetails: 'context must be an object' };
  const { targetingKey, segment, segments } = raw as Record<string, unknown>;
  if (targetingKey !== undefined && (typeof targetingKey !== 'string' || targetingKey === '')) {
    return { ok: false, errorDetails: 'context.targetingKey must be a non-empty string' };
  }
  const found: string[] = [];
  if (segment !== undefined) {
    if (typeof segment !== 'string') return { ok: false, errorDetails: 'context.segment must be a string' };
    found.push(segment);
  }
  if (segments !== undefined) {
    if (!Array.isArray(segments) || !segments.every((item) => typeof item === 'string')) return { ok: false, errorDetails: 'context.segments must be an array of strings' };
    found.push(...(segments as string[]));
  }
  return { ok: true, context: { ...(targetingKey === undefined ? {} : { targetingKey: targetingKey as string }), segments: found } };
}
