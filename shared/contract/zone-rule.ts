// How many hosts of one zone a deploy may have out of service at once. Hosts carry a
// `zone` Serf tag (none is zone ""); the slot script enforces the rule with the grant.
import { z } from 'zod';

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
