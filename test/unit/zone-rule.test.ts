// A deploy's zone rule as the coordinator reads it from a request, and the request's refusals.
import { describe, expect, it } from 'vitest';
import { CreateDeployBody } from '../../shared/contract/schemas.js';
import { describeZoneRule, zoneRuleArgs, zoneRuleOf } from '../../shared/contract/zone-rule.js';
import { inZones } from '../../dev-cluster/cluster-state.js';

describe('zone rules', () => {
  it('reads --max-per-zone and --zone-at-a-time from a deploy request, and none when neither is asked', () => {
    expect(zoneRuleOf({ maxPerZone: 2 })).toEqual({ kind: 'max-per-zone', max: 2 });
    expect(zoneRuleOf({ zoneAtATime: true })).toEqual({ kind: 'zone-at-a-time' });
    expect(zoneRuleOf({ zoneAtATime: false })).toBeUndefined();
    expect(zoneRuleOf({})).toBeUndefined();
  });

  it('refuses both at once, naming both fields', () => {
    expect(() => zoneRuleOf({ maxPerZone: 1, zoneAtATime: true })).toThrow(/maxPerZone and zoneAtATime/);
  });

  it('refuses a cap below 1 or not whole, naming maxPerZone', () => {
    for (const maxPerZone of [0, -1, 1.5]) {
      const parsed = CreateDeployBody.safeParse({ role: 'web', env: 'production', maxPerZone });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path).toEqual(['maxPerZone']);
    }
    expect(CreateDeployBody.parse({ role: 'web', env: 'production', maxPerZone: 1 }).maxPerZone).toBe(1);
  });

  it('gives the slot script its mode and cap, and status its words', () => {
    expect(zoneRuleArgs(undefined)).toEqual(['', 0]);
    expect(zoneRuleArgs({ kind: 'max-per-zone', max: 3 })).toEqual(['max', 3]);
    expect(zoneRuleArgs({ kind: 'zone-at-a-time' })).toEqual(['one', 0]);
    expect(describeZoneRule({ kind: 'max-per-zone', max: 1 })).toBe('at most 1 host out per zone');
    expect(describeZoneRule({ kind: 'max-per-zone', max: 2 })).toBe('at most 2 hosts out per zone');
    expect(describeZoneRule({ kind: 'zone-at-a-time' })).toBe('one zone at a time');
  });

  it('dev up --zones gives zones round-robin within each environment', () => {
    const hosts = inZones([{ name: 'h1', env: 'production' }, { name: 's1', env: 'staging' }, { name: 'h2', env: 'production' }, { name: 'h3', env: 'production' }], ['a', 'b']);
    expect(hosts.map((h) => `${h.name}:${h.zone}`)).toEqual(['h1:a', 's1:a', 'h2:b', 'h3:a']);
    expect(inZones([{ name: 'h1', env: 'production' }], [])).toEqual([{ name: 'h1', env: 'production' }]);
  });
});
