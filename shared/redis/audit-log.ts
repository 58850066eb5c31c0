// The audit log as one Redis stream (`gv:audit`), capped two ways. Redis 7 takes one trim
// strategy per XADD, so each XADD caps the length (MAXLEN ~) and, at most once a minute, the
// same pipeline adds an XTRIM of entries past the age cap (MINID ~). Both trims are
// approximate (whole macro nodes, 100 entries each by Redis's default), so reads also skip
// anything older than the age cap: the log never shows an entry past it. Appends are
// gathered for a few milliseconds and sent together (append-window.ts).
import type { RedisClient } from './connection.js';
import { AuditEntry, matchesAuditFilter, NewAuditEntry, type AuditPage } from '../contract/audit-entry.js';
import type { Logger } from '../contract/logger.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { AuditLog, AuditRead } from '../ports/audit-log.js';
import { callRedis } from './scripts.js';
import { AppendWindow } from './append-window.js';

export interface AuditCaps {
  /** Entries kept at most (about: Redis trims whole macro nodes). */
  maxEntries: number;
  /** Entries older than this are trimmed, and never read. */
  maxAgeMs: number;
}

/** How often an append also trims by age: a minute's lateness is nothing against a cap of days. */
const AGE_TRIM_EVERY_MS = 60_000;
/** Entries read per XREVRANGE while a filter is applied. */
const SCAN_BATCH = 1_000;
/** A filtered read looks at no more entries than this; `more` says when it stopped short. */
const MAX_SCANNED = 100_000;

type Fields = string[];

export class RedisAuditLog implements AuditLog {
  readonly #redis: RedisClient;
  readonly #appends: AppendWindow;
  readonly #caps: AuditCaps;
  readonly #now: () => number;
  readonly #logger: Logger;
  #nextAgeTrimAt = 0;

  constructor({ redis, caps, logger, now = Date.now }: { redis: RedisClient; caps: AuditCaps; logger: Logger; now?: () => number }) {
    this.#redis = redis;
    this.#appends = new AppendWindow(redis);
    this.#caps = caps;
    this.#now = now;
    this.#logger = logger.child({ component: 'audit-log' });
  }

  append(entries: readonly NewAuditEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const key = redisKeys.audit();
    const now = this.#now();
    const trim = now >= this.#nextAgeTrimAt;
    if (trim) this.#nextAgeTrimAt = now + AGE_TRIM_EVERY_MS;
    // Queued here, before any await: entries reach Redis in the order of the calls.
    return callRedis('appending to the audit log', async () => {
      await this.#appends.queue((pipeline) => {
        for (const entry of entries) pipeline.xadd(key, 'MAXLEN', '~', String(this.#caps.maxEntries), '*', ...fieldsOf(entry));
        if (trim) pipeline.xtrim(key, 'MINID', '~', String(Math.max(0, now - this.#caps.maxAgeMs)));
        return entries.length + (trim ? 1 : 0);
      });
    });
  }

  async read({ role, env, sinceMs, limit }: AuditRead): Promise<AuditPage> {
    const key = redisKeys.audit();
    const oldest = Math.max(sinceMs ?? 0, this.#now() - this.#caps.maxAgeMs, 0);
    const filtered = role !== undefined || env !== undefined;
    // One more than asked says whether there is more.
    const wanted = limit + 1;
    const found: AuditEntry[] = [];
    let end = '+';
    let exhausted = false;
    for (let scanned = 0; scanned < MAX_SCANNED && found.length < wanted; ) {
      const count = filtered ? SCAN_BATCH : wanted - found.length;
      const batch = await callRedis('reading the audit log', () => this.#redis.xrevrange(key, end, String(oldest), 'COUNT', count));
      scanned += batch.length;
      for (const [id, fields] of batch) {
        const record = recordOf(id, fields);
        // Filtered on the raw fields first: a search through a long log parses only what it returns.
        if (!matchesAuditFilter(record, { role, env })) continue;
        const entry = this.#parse(id, record);
        if (entry) found.push(entry);
        if (found.length === wanted) break;
      }
      const last = batch.at(-1);
      if (batch.length < count || !last) {
        exhausted = true;
        break;
      }
      end = `(${last[0]}`;
    }
    return { entries: found.slice(0, limit), more: found.length > limit || !exhausted };
  }

  /** An entry as written; one that does not parse (written by hand?) is skipped and logged, not fatal to the whole log. */
  #parse(id: string, record: Record<string, string>): AuditEntry | undefined {
    const parsed = AuditEntry.safeParse(record);
    if (parsed.success) return parsed.data;
    this.#logger.warn({ id, err: parsed.error.message }, 'an audit entry does not parse; skipped');
    return undefined;
  }
}

/** A stream entry's field-value list as an object, with its id. */
function recordOf(id: string, fields: Fields): Record<string, string> {
  const record: Record<string, string> = { id };
  for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i] as string] = fields[i + 1] as string;
  return record;
}

/** The entry as a stream's field-value list, in NewAuditEntry's order; absent fields are left out. */
function fieldsOf(entry: NewAuditEntry): Fields {
  const fields: Fields = [];
  for (const name of Object.keys(NewAuditEntry.shape) as (keyof NewAuditEntry)[]) {
    const value = entry[name];
    if (value !== undefined) fields.push(name, value);
  }
  return fields;
}
