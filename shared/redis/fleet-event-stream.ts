// The fleet's events as one capped Redis stream (`gv:events`): each XADD trims the stream to
// about `maxLength` entries (MAXLEN ~: Redis drops whole macro nodes, 100 entries each by
// default, so it may hold a few more). Entries are `kind` and `event` (the FleetEvent as JSON).
// Appends are gathered for a few milliseconds and sent together (append-window.ts).
// New events are read with XREAD BLOCK on a connection of its own (duplicated from the
// coordinator's, with a command timeout longer than the block), so a long wait for the
// next event never queues the coordinator's other commands behind it.
import { duplicateRedis, type RedisClient } from './connection.js';
import type { FleetEvent } from '../contract/fleet-events.js';
import type { Logger } from '../contract/logger.js';
import { redisKeys } from '../contract/redis-keys.js';
import { FIRST_EVENT_ID, type FleetEventLog, type FleetEventTail, type StoredFleetEvent } from '../ports/fleet-event-log.js';
import { callRedis } from './scripts.js';
import { AppendWindow } from './append-window.js';

/** Events kept by default: hours of a busy fleet's reports, about 10 MB at most. */
export const EVENT_STREAM_MAX_LENGTH = 10_000;
/** A blocking read's command timeout beyond its own wait: the socket may be slow, not dead. */
const TAIL_TIMEOUT_MARGIN_MS = 5_000;

type Entry = [id: string, fields: string[]];

export class RedisFleetEventStream implements FleetEventLog {
  readonly #redis: RedisClient;
  readonly #logger: Logger;
  readonly #maxLength: number;
  readonly #appends: AppendWindow;

  constructor({ redis, logger, maxLength = EVENT_STREAM_MAX_LENGTH }: { redis: RedisClient; logger: Logger; maxLength?: number }) {
    this.#redis = redis;
    this.#appends = new AppendWindow(redis);
    this.#logger = logger.child({ component: 'event-stream' });
    this.#maxLength = maxLength;
  }

  /** Resolves with the entry's id once its window is sent (append-window.ts). */
  async append(event: FleetEvent): Promise<string> {
    const fields = ['kind', event.kind, 'event', JSON.stringify(event)];
    const [id] = await callRedis('appending to the event stream', () =>
      this.#appends.queue((pipeline) => (pipeline.xadd(redisKeys.events(), 'MAXLEN', '~', String(this.#maxLength), '*', ...fields), 1)),
    );
    // Never null: no NOMKSTREAM, no explicit id.
    return typeof id === 'string' ? id : FIRST_EVENT_ID;
  }

  async range(afterId: string, untilId: string, count: number): Promise<StoredFleetEvent[]> {
    const entries = await callRedis('reading the event stream', () => this.#redis.xrange(redisKeys.events(), `(${afterId}`, untilId, 'COUNT', count));
    return this.#parse(entries);
  }

  async newestId(): Promise<string> {
    const [newest] = await callRedis('reading the event stream', () => this.#redis.xrevrange(redisKeys.events(), '+', '-', 'COUNT', 1));
    return newest?.[0] ?? FIRST_EVENT_ID;
  }

  async oldestId(): Promise<string | undefined> {
    const [oldest] = await callRedis('reading the event stream', () => this.#redis.xrange(redisKeys.events(), '-', '+', 'COUNT', 1));
    return oldest?.[0];
  }

  openTail(): FleetEventTail {
    const parse = (entries: Entry[]) => this.#parse(entries);
    let connection: RedisClient | undefined;
    let closed = false;
    const open = (waitMs: number) => {
      if (connection) return connection;
      connection = duplicateRedis(this.#redis, { commandTimeout: waitMs + TAIL_TIMEOUT_MARGIN_MS });
      // The reading loop logs an outage once, from the failed read; without a listener ioredis would print every reconnection's error.
      connection.on('error', () => undefined);
      return connection;
    };
    return {
      async next(afterId, waitMs, count) {
        if (closed) return [];
        const reply = await callRedis('waiting for new events', () =>
          open(waitMs).xread('COUNT', count, 'BLOCK', waitMs, 'STREAMS', redisKeys.events(), afterId),
        );
        return parse(reply?.[0]?.[1] ?? []);
      },
      close() {
        closed = true;
        connection?.disconnect();
      },
    };
  }

  /** Entries as written; one that does not parse (written by hand?) is skipped and logged, never fatal to a stream. */
  #parse(entries: Entry[]): StoredFleetEvent[] {
    const parsed: StoredFleetEvent[] = [];
    for (const [id, fields] of entries) {
      let json: string | undefined;
      for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'event') json = fields[i + 1];
      try {
        const event = JSON.parse(json ?? '') as FleetEvent;
        if (typeof event?.kind !== 'string' || typeof event.at !== 'number') throw new Error('no kind or time');
        parsed.push({ id, event });
      } catch (error) {
        this.#logger.warn({ id, err: (error as Error).message }, 'an event stream entry does not parse; skipped');
      }
    }
    return parsed;
  }
}
