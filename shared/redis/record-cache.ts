// Deploy records parsed once per change, not once per read: a record names every target, so
// at 10 000 hosts it is ~150 kB of JSON. Each rewrite of a record bumps its `rev` in the
// deploy's meta hash; a read that finds the rev it cached uses the parse it has.
import type { DeployRecord } from '../ports/deploy-store.js';

/** Records kept: the deploys in progress and a screenful of recent ones. */
const RECORDS_KEPT = 256;

export interface CachedRecord {
  record: DeployRecord;
  /** The record's targets as a set: membership checks per report or view in constant time. */
  targets: ReadonlySet<string>;
}

export class RecordCache {
  readonly #entries = new Map<string, { rev: number; value: CachedRecord }>();

  get(id: string, rev: number): CachedRecord | undefined {
    const entry = this.#entries.get(id);
    if (!entry || entry.rev !== rev) return undefined;
    // Most recently used last, so the oldest goes first when full.
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    return entry.value;
  }

  set(id: string, rev: number, record: DeployRecord): CachedRecord {
    const value = { record, targets: new Set(record.targets ?? []) };
    this.#entries.delete(id);
    if (this.#entries.size >= RECORDS_KEPT) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(id, { rev, value });
    return value;
  }
}
