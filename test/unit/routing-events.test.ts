// What a route change and a retired cluster say in the audit log, the notifications and the
// event stream's filter: who did what to which group, and the table after, in one line.
import { describe, expect, it } from 'vitest';
import { auditEntriesOf } from '../../coordinator/audit/audit-entries.js';
import { SlotSightings } from '../../coordinator/audit/slot-sightings.js';
import { eventMatches } from '../../coordinator/events/event-filter.js';
import { notificationOf } from '../../coordinator/notifications/notification.js';
import { slackMessage } from '../../coordinator/notifications/slack-message.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';

const AT = Date.UTC(2026, 11, 2, 20, 0);
const changed: FleetEvent = {
  kind: 'routes.changed',
  at: AT,
  actor: 'operator alice (t-1)',
  role: 'web',
  env: 'production',
  change: 'route >=1.1 -> white set',
  routes: { routes: [{ client: '>=1.1', cluster: 'white' }, { client: '<1.0', clientType: 'ios', cluster: 'red' }], defaultCluster: 'red' },
};
const retired: FleetEvent = { kind: 'cluster.retired', at: AT, actor: 'operator alice (t-1)', role: 'web', env: 'production', cluster: 'red', servers: 3 };

describe('routing in the fleet events’ readers', () => {
  it('audits a route change with the table after, and a retirement with its servers', () => {
    expect(auditEntriesOf(changed, new SlotSightings())).toEqual([
      { time: '2026-12-02T20:00:00.000Z', actor: 'operator alice (t-1)', action: 'routes.changed', role: 'web', env: 'production', detail: 'route >=1.1 -> white set; >=1.1 -> white, ios <1.0 -> red, else red' },
    ]);
    expect(auditEntriesOf(retired, new SlotSightings())[0]).toMatchObject({ action: 'cluster.retired', role: 'web', env: 'production', detail: 'cluster red retired: 3 servers into maintenance' });
  });

  it('notifies both, in words a person reads in a channel', () => {
    const change = notificationOf(changed, { id: 'n-1', publicUrl: 'https://grapevine.example/' });
    expect(change).toMatchObject({ kind: 'routes.changed', role: 'web', env: 'production', url: 'https://grapevine.example/ui' });
    expect(change?.text).toBe('Routes of web on production changed by operator alice (t-1): route >=1.1 -> white set. Now >=1.1 -> white, ios <1.0 -> red, else red.');
    const retirement = notificationOf(retired, { id: 'n-2', publicUrl: 'https://grapevine.example' });
    expect(retirement?.text).toBe('Cluster red of web on production retired by operator alice (t-1): 3 servers out of the load balancer.');
    expect(slackMessage(retirement!).text).toContain('Cluster red of web on production retired');
  });

  it('belongs to its group in the event stream’s filter', () => {
    expect(eventMatches(changed, { role: 'web', env: 'production', operator: false })).toBe(true);
    expect(eventMatches(changed, { role: 'api', operator: false })).toBe(false);
    expect(eventMatches(retired, { env: 'staging', operator: false })).toBe(false);
  });
});
