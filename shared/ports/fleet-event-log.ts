// Where the fleet's events are kept for the live event stream (`GET /v1/events`): appended
// in the order the coordinator publishes them, each under an id that orders them (a Redis
// stream entry id, `<ms>-<seq>`), capped short. A browser that reconnects names the last id
// it saw and reads on from there. The Redis implementation is shared/redis/fleet-event-stream.ts.
import type { FleetEvent } from '../contract/fleet-events.js';

/** An event as kept, under its id. */
export interface StoredFleetEvent {
  id: string;
  event: FleetEvent;
}

export interface FleetEventLog {
  /** Appends `event` after every event appended by an earlier call; returns its id. */
  append(event: FleetEvent): Promise<string>;
  /** Up to `count` events after `afterId` (exclusive) and up to `untilId` (inclusive), oldest first. */
  range(afterId: string, untilId: string, count: number): Promise<StoredFleetEvent[]>;
  /** The newest event's id; `0-0` when none is kept. */
  newestId(): Promise<string>;
  /** The oldest event's id still kept; undefined when none is. */
  oldestId(): Promise<string | undefined>;
  /** A reader of new events on a connection of its own, so that waiting for them holds up nothing else. */
  openTail(): FleetEventTail;
}

export interface FleetEventTail {
  /** Up to `count` events after `afterId`, waiting at most `waitMs` for the first; [] when none came. */
  next(afterId: string, waitMs: number, count: number): Promise<StoredFleetEvent[]>;
  /** Closes the connection: a `next` under way rejects at once. */
  close(): void;
}

/** The id before every event: reading after it reads from the start. */
export const FIRST_EVENT_ID = '0-0';

const EVENT_ID = /^(\d{1,16})-(\d{1,16})$/;

/** Whether `id` has the form of an event id (`<ms>-<seq>`). */
export function isEventId(id: string): boolean {
  return EVENT_ID.test(id);
}

/** Orders two event ids: negative when `a` comes first. */
export function compareEventIds(a: string, b: string): number {
  const [, aMs = '0', aSeq = '0'] = EVENT_ID.exec(a) ?? [];
  const [, bMs = '0', bSeq = '0'] = EVENT_ID.exec(b) ?? [];
  return Number(BigInt(aMs) - BigInt(bMs)) || Number(BigInt(aSeq) - BigInt(bSeq));
}
