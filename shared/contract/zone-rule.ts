// How many hosts of one zone a deploy may have out of service at once. Hosts carry a
// `zone` Serf tag (none is zone ""); the slot script enforces the rule with the grant.
import * as z from 'zod';
import { ValidationError } from './errors.js';

/** A zone's name, as the agent's config and its Serf tag `zone` carry it. */
export const zoneName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 characters of a-z, 0-9 and -, starting with a letter');

export const ZoneRule = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('max-per-zone'), max: z.number().int().min(1) }),
  z.object({ kind: z.literal('zone-at-a-time') }),
]);
export type ZoneRule = z.infer<typeof ZoneRule>;

/** The rule as the slot scripts take it: mode ("" none, "max", "one") and the cap. */
export function zoneRuleArgs(rule: ZoneRule | undefined): [mode: string, max: number] {
  if (!rule) return ['', 0];
  return rule.kind === 'max-per-zone' ? ['max', rule.max] : ['one', 0];
}

/** The rule in words, for `status` and the dashboard. */
export function describeZoneRule(rule: ZoneRule | undefined): string {
  if (!rule) return 'none';
  return rule.kind === 'max-per-zone' ? `at most ${rule.max} host${rule.max === 1 ? '' : 's'} out per zone` : 'one zone at a time';
}

/** The rule a deploy request asks for; both at once is refused, naming the fields. */
export function zoneRuleOf(request: { maxPerZone?: number | undefined; zoneAtATime?: boolean | undefined }): ZoneRule | undefined {
  if (request.maxPerZone !== undefined && request.zoneAtATime === true) {
    throw new ValidationError('maxPerZone and zoneAtATime: choose one (at most N hosts out per zone, or one zone at a time)');
  }
  if (request.maxPerZone !== undefined) return { kind: 'max-per-zone', max: request.maxPerZone };
  return request.zoneAtATime === true ? { kind: 'zone-at-a-time' } : undefined;
}
