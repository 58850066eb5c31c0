// Lifetimes written the way people say them (`30m`, `12h`, `7d`), as `token create --ttl` and the token API take them.
import { ValidationError } from './errors.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Longer than a year is a credential nobody will remember to rotate. */
export const MAX_TTL_MS = 366 * UNIT_MS.d;
export const DURATION_PATTERN = /^([1-9][0-9]{0,5})([smhd])$/;

/** Milliseconds in `text` (`90s`, `30m`, `12h`, `7d`); a ValidationError naming `what` otherwise. */
export function parseDuration(text: string, what: string): number {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) throw new ValidationError(`${what} must be a whole number and a unit (s, m, h or d), e.g. 30m, 12h or 7d; got ${JSON.stringify(text)}`);
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (ms > MAX_TTL_MS) throw new ValidationError(`${what} must be at most 366d; got ${text}`);
  return ms;
}
