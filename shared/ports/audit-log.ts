// Where the fleet's audit entries are kept: append-only, capped by length and age. The
// Redis implementation is shared/redis/audit-log.ts (a stream); unit tests use an in-memory one.
import type { AuditFilter, AuditPage, NewAuditEntry } from '../contract/audit-entry.js';

export interface AuditRead extends AuditFilter {
  /** Only entries written at or after this moment (ms since the epoch). */
  sinceMs?: number;
  /** At most this many entries, the newest. */
  limit: number;
}

export interface AuditLog {
  /**
   * Appends `entries` in their order, after every entry appended by an earlier call: the
   * write is issued before the call's first await, so callers keep the order they call in.
   */
  append(entries: readonly NewAuditEntry[]): Promise<void>;
  /** Matching entries, newest first. */
  read(query: AuditRead): Promise<AuditPage>;
}
