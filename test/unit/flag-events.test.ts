// What a flag's change and its kill switch make in the audit log, in notifications and on the
// event stream: which flag of which environment, who, and who gets what after it.
import { describe, expect, it } from 'vitest';
import { auditEntriesOf } from '../../coordinator/audit/audit-entries.js';
import { SlotSightings } from '../../coordinator/audit/slot-sightings.js';
import { eventMatches } from '../../coordinator/events/event-filter.js';
import { notificationOf } from '../../coordinator/notifications/notification.js';
import { slackMessage } from '../../coordinator/notifications/slack-message.js';
import { targetWants } from '../../coordinator/notifications/target-match.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';

const AT = Date.parse('2026-12-02T12:00:00Z');
const actor = 'deployer ci (t-1)';
const changed: FleetEvent = { kind: 'flag.changed', at: AT, actor, env: 'production', flag: 'new-checkout', change: 'created', version: 1, summary: 'on (true) for 30 % of keys; others off (false)' };
const killed: FleetEvent = { kind: 'flag.killed', at: AT + 1000, actor, env: 'production', flag: 'new-checkout', reason: 'checkout errors' };

describe('flag events', () => {
  it('make one audit entry each, of the environment, naming the flag', () => {
    expect(auditEntriesOf(changed, new SlotSightings())).toEqual([
      { time: '2026-12-02T12:00:00.000Z', actor, action: 'flag.changed', env: 'production', detail: 'flag new-checkout created (version 1): on (true) for 30 % of keys; others off (false)' },
    ]);
    expect(auditEntriesOf(killed, new SlotSightings())).toEqual([{ time: '2026-12-02T12:00:01.000Z', actor, action: 'flag.killed', env: 'production', detail: 'flag new-checkout killed: checkout errors' }]);
  });

  it('make notifications of no role, heard by targets that name no role', () => {
    const told = notificationOf(killed, { id: 'n-1', publicUrl: 'http://10.0.0.1:7700/' })!;
    expect(told).toMatchObject({ kind: 'flag.killed', env: 'production', flag: { name: 'new-checkout', change: 'killed', reason: 'checkout errors' } });
    expect(told.role).toBeUndefined();
    expect(told.text).toBe('Flag new-checkout on production killed by deployer ci (t-1): checkout errors. Everyone gets its off variant until it is set on again.');
    expect(notificationOf(changed, { id: 'n-2', publicUrl: 'http://x' })?.text).toBe('Flag new-checkout on production created by deployer ci (t-1): on (true) for 30 % of keys; others off (false).');
    expect(slackMessage(told).blocks[1]).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: 'env *production*' }] });
    expect(targetWants({ envs: ['production'] }, told)).toBe(true);
    expect(targetWants({ envs: ['staging'] }, told)).toBe(false);
    expect(targetWants({ roles: ['web'] }, told)).toBe(false);
    expect(targetWants({ events: ['flag.killed'] }, told)).toBe(true);
  });

  it("reach an event stream that follows the flag's environment, not another's or a role's", () => {
    expect(eventMatches(killed, { operator: false, env: 'production' })).toBe(true);
    expect(eventMatches(killed, { operator: false, env: 'staging' })).toBe(false);
    expect(eventMatches(killed, { operator: false, role: 'web' })).toBe(false);
    expect(eventMatches(changed, { operator: false })).toBe(true);
  });
});
