// A group's freeze: who parked its rollouts, why, and until when. Redis holds it under the
// group's freeze key (shared/contract/redis-keys.ts); the coordinator's API serves it.
import * as z from 'zod';

/** Longest a freeze may be set ahead for: past a week nobody remembers why it is there. */
export const MAX_FREEZE_MS = 7 * 24 * 60 * 60 * 1000;

export const FreezeMark = z.object({
  reason: z.string().min(1).max(500),
  /** Who froze it: the credential's actor. */
  by: z.string().min(1),
  /** When (ms since the epoch, the coordinator's clock). */
  at: z.number().int().nonnegative(),
  /** When it lapses by itself (ms since the epoch); none means until someone unfreezes it. */
  until: z.number().int().positive().optional(),
});
export type FreezeMark = z.infer<typeof FreezeMark>;

/** Body of `POST /v1/groups/:role/:env/freeze`; who freezes is the request's credential. */
export const FreezeBody = z.object({
  reason: z.string().min(1, 'reason must not be empty').max(500, 'reason must be at most 500 characters'),
  until: z.number().int().positive().optional(),
});
export type FreezeBody = z.infer<typeof FreezeBody>;

/** Answer of `GET /v1/groups/:role/:env/freeze`. */
export const FreezeState = z.object({ frozen: FreezeMark.nullable() });
export type FreezeState = z.infer<typeof FreezeState>;

/** A freeze in words, as a refusal, `status` and the dashboard say it: `"release train" (by operator ops, until 2026-12-02T18:00:00.000Z)`. */
export function describeFreeze(mark: FreezeMark): string {
  const until = mark.until === undefined ? 'until unfrozen' : `until ${new Date(mark.until).toISOString()}`;
  return `${JSON.stringify(mark.reason)} (by ${mark.by}, ${until})`;
}
