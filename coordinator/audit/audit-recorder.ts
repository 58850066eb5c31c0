// The audit log's writer: a reader of the fleet's events that turns each into its entries
// (audit-entries.ts) and appends them. Entries are built and their write issued as the
// event is read, before any await, so the log keeps the order the coordinator published in.
// A write Redis refuses or does not answer (within the client's command timeout) loses
// those entries; the event bus logs the failure.
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { AuditLog } from '../../shared/ports/audit-log.js';
import type { FleetEventReader } from '../fleet-event-bus.js';
import { auditEntriesOf } from './audit-entries.js';
import { SlotSightings } from './slot-sightings.js';

export function auditRecorder(log: AuditLog, slots = new SlotSightings()): FleetEventReader {
  return (event: FleetEvent) => log.append(auditEntriesOf(event, slots));
}
