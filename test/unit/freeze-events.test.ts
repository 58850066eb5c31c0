// What a freeze and an unfreeze make in the audit log and in notifications: who, which
// group, until when and why; a freeze names no tag (it is the group's, whatever the release).
import { describe, expect, it } from 'vitest';
import { auditEntriesOf } from '../../coordinator/audit/audit-entries.js';
import { SlotSightings } from '../../coordinator/audit/slot-sightings.js';
import { notificationOf } from '../../coordinator/notifications/notification.js';
import { slackMessage } from '../../coordinator/notifications/slack-message.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';

const AT = Date.parse('2026-12-02T12:00:00Z');
const frozen: FleetEvent = { kind: 'group.frozen', at: AT, actor: 'operator ops (t-1)', role: 'web', env: 'production', reason: 'release train', until: AT + 3_600_000 };
const unfrozen: FleetEvent = { kind: 'group.unfrozen', at: AT + 90_000, actor: 'operator ops (t-1)', role: 'web', env: 'production', reason: 'release train', frozenMs: 90_000 };

describe('freeze events', () => {
  it('make one audit entry each, naming the group, until when and why', () => {
    expect(auditEntriesOf(frozen, new SlotSightings())).toEqual([
      { time: '2026-12-02T12:00:00.000Z', actor: 'operator ops (t-1)', action: 'group.frozen', role: 'web', env: 'production', detail: 'until 2026-12-02T13:00:00.000Z: release train' },
    ]);
    expect(auditEntriesOf(unfrozen, new SlotSightings())).toEqual([
      { time: '2026-12-02T12:01:30.000Z', actor: 'operator ops (t-1)', action: 'group.unfrozen', role: 'web', env: 'production', detail: 'after 90 s frozen (release train)' },
    ]);
  });

  it('make notifications of their own kinds, with no tag, pointing at the overview', () => {
    const told = notificationOf(frozen, { id: 'n-1', publicUrl: 'http://10.0.0.1:7700/' });
    expect(told).toMatchObject({ kind: 'group.frozen', role: 'web', env: 'production', url: 'http://10.0.0.1:7700/ui', freeze: { reason: 'release train', until: AT + 3_600_000 } });
    expect(told?.tag).toBeUndefined();
    expect(told?.text).toBe(
      'web on production frozen by operator ops (t-1) until 2026-12-02T13:00:00.000Z: release train. Waiting hosts take no slot; new deploys are refused unless forced.',
    );
    const back = notificationOf(unfrozen, { id: 'n-2', publicUrl: 'http://10.0.0.1:7700' });
    expect(back?.text).toBe('web on production unfrozen by operator ops (t-1) after 1 min 30 s; its rollouts resume.');
    expect(JSON.stringify(slackMessage(told!))).not.toContain('tag *');
  });
});
