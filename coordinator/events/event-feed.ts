// One reader of the event stream per coordinator process, shared by every open
// `GET /v1/events`: a single XREAD BLOCK loop (on its own Redis connection) reads each new
// event once and offers it to every subscriber, whatever their number. A subscriber that
// names the last event it saw first reads the events after it from the stream, page by
// page, then the ones the loop handed it meanwhile: it misses nothing the stream still
// holds and gets nothing twice. The loop starts with the first subscriber and ends with stop().
import { GrapevineError, UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { Logger } from '../../shared/contract/logger.js';
import { backoff, pause, within } from '../../shared/contract/waiting.js';
import { compareEventIds, FIRST_EVENT_ID, type FleetEventLog, type FleetEventTail, type StoredFleetEvent } from '../../shared/ports/fleet-event-log.js';

/** Event streams open at once, by default: each holds a connection; a browser tab holds one. */
export const MAX_EVENT_STREAMS = 100;
/** How long one XREAD waits for an event; stop() cuts it short by closing the connection. */
const READ_WAIT_MS = 10_000;
/** Events read per XREAD or XRANGE page. */
const PAGE = 500;
/** Events waiting for one slow reader; past this it is cut off (it reconnects and reads on from its last id). */
const QUEUE_LIMIT = 2_000;
/** Pauses after failed reads while Redis is away: 250 ms doubling to 5 s, repeated until it answers or the feed stops. */
const READ_RETRY_MS = backoff(250, 5, 5_000);
/** stop() waits at most this long for the loop: its read fails at once once the connection is closed. */
const STOP_WAIT_MS = 1_000;

/** Past the cap of open event streams: the caller answers 503. */
export class TooManyEventStreamsError extends GrapevineError {
  constructor(max: number) {
    super('too_many_streams', `the coordinator serves at most ${max} event streams at once; close another one or try again later`);
  }
}

export interface EventFeedOptions {
  log: FleetEventLog;
  logger: Logger;
  maxStreams?: number;
  readWaitMs?: number;
}

export interface SubscribeOptions {
  /** Read on after this event id (a reconnecting reader's Last-Event-ID); from now when unset. */
  since?: string;
  accepts: (event: FleetEvent) => boolean;
}

export interface EventSubscription {
  /** Whether events after `since` may be missing: the stream no longer holds the event it names. */
  readonly trimmed: boolean;
  /** The next events, oldest first; [] when none came within `waitMs`; undefined once the subscription ended. */
  next(waitMs: number): Promise<StoredFleetEvent[] | undefined>;
  /** Called once when the subscription ends: closed by its reader, cut off as too slow, or the feed stopping. */
  onEnd(listener: (reason: string) => void): void;
  close(): void;
}

export class EventFeed {
  readonly #log: FleetEventLog;
  readonly #logger: Logger;
  readonly #maxStreams: number;
  readonly #readWaitMs: number;
  readonly #subscribers = new Set<Subscriber>();
  readonly #stopping = new AbortController();
  /** The id of the last event the loop read: every later one goes to the subscribers. */
  #cursor: string | undefined;
  #starting: Promise<string> | undefined;
  #loop: Promise<void> | undefined;
  #tail: FleetEventTail | undefined;

  constructor(options: EventFeedOptions) {
    this.#log = options.log;
    this.#logger = options.logger.child({ component: 'event-feed' });
    this.#maxStreams = options.maxStreams ?? MAX_EVENT_STREAMS;
    this.#readWaitMs = options.readWaitMs ?? READ_WAIT_MS;
  }

  /** The newest event's id: a page read now follows the stream from there. */
  newestId(): Promise<string> {
    return this.#log.newestId();
  }

  /** Subscriptions open now. */
  get open(): number {
    return this.#subscribers.size;
  }

  /** TooManyEventStreamsError past the cap; UnreachableError when stopping or when Redis does not answer. */
  async subscribe({ since, accepts }: SubscribeOptions): Promise<EventSubscription> {
    if (this.#stopping.signal.aborted) throw new UnreachableError('the coordinator is stopping');
    if (this.#subscribers.size >= this.#maxStreams) throw new TooManyEventStreamsError(this.#maxStreams);
    const subscriber = new Subscriber(this.#log, accepts, () => this.#subscribers.delete(subscriber));
    // From here on the loop hands it every event after the cursor it reads now.
    this.#subscribers.add(subscriber);
    try {
      const boundary = this.#cursor ?? (await this.#start());
      let trimmed = false;
      if (since !== undefined && compareEventIds(since, boundary) < 0) {
        subscriber.catchUp(since, boundary);
        const oldest = since === FIRST_EVENT_ID ? undefined : await this.#log.oldestId();
        trimmed = oldest !== undefined && compareEventIds(since, oldest) < 0;
      } else if (since !== undefined) {
        // A reader ahead of this loop (another coordinator wrote, or the loop just started): nothing twice.
        subscriber.skipThrough(since);
      }
      subscriber.trimmed = trimmed;
      return subscriber;
    } catch (error) {
      subscriber.close();
      throw error;
    }
  }

  /** Ends every subscription and the loop, within about a second whatever Redis does. */
  async stop(): Promise<void> {
    this.#stopping.abort(new UnreachableError('the coordinator is stopping'));
    this.#tail?.close();
    for (const subscriber of [...this.#subscribers]) subscriber.end('the coordinator is stopping');
    if (this.#loop) await within(this.#loop, STOP_WAIT_MS);
  }

  /** The loop's first cursor (the newest event now), shared by subscribers that arrive while it is read. */
  #start(): Promise<string> {
    this.#starting ??= this.#log.newestId().then(
      (newest) => {
        this.#cursor = newest;
        this.#tail = this.#log.openTail();
        this.#loop = this.#run(this.#tail);
        return newest;
      },
      (error: unknown) => {
        // The next subscriber tries again.
        this.#starting = undefined;
        throw error;
      },
    );
    return this.#starting;
  }

  /** Lives until stop(); each read waits at most readWaitMs, each pause after a failure at most 5 s. */
  async #run(tail: FleetEventTail): Promise<void> {
    const signal = this.#stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      let events: StoredFleetEvent[];
      try {
        events = await tail.next(this.#cursor ?? FIRST_EVENT_ID, this.#readWaitMs, PAGE);
        if (failures > 0) this.#logger.info({ failures }, 'reading the event stream again');
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (failures === 0) this.#logger.warn({ err: errorMessage(error) }, 'cannot read the event stream; retrying until Redis answers');
        const delay = READ_RETRY_MS[Math.min(failures, READ_RETRY_MS.length - 1)]!;
        failures++;
        await pause(delay, signal).catch(() => undefined);
        continue;
      }
      for (const stored of events) {
        this.#cursor = stored.id;
        for (const subscriber of this.#subscribers) subscriber.offer(stored);
      }
    }
  }
}

/** One open stream: the events it still has to read from the log, then those the loop handed it. */
class Subscriber implements EventSubscription {
  trimmed = false;
  readonly #log: FleetEventLog;
  readonly #accepts: (event: FleetEvent) => boolean;
  readonly #onClose: () => void;
  readonly #queue: StoredFleetEvent[] = [];
  readonly #endListeners: Array<(reason: string) => void> = [];
  /** Events after `after` up to `until` (inclusive) are still to be read from the log. */
  #backlog: { after: string; until: string } | undefined;
  /** Events up to this id were read already: the loop's copies are dropped. */
  #skipThrough: string | undefined;
  #wake: (() => void) | undefined;
  #ended: string | undefined;

  constructor(log: FleetEventLog, accepts: (event: FleetEvent) => boolean, onClose: () => void) {
    this.#log = log;
    this.#accepts = accepts;
    this.#onClose = onClose;
  }

  catchUp(after: string, until: string): void {
    this.#backlog = { after, until };
  }

  skipThrough(id: string): void {
    this.#skipThrough = id;
  }

  offer(stored: StoredFleetEvent): void {
    if (this.#ended !== undefined || !this.#accepts(stored.event)) return;
    if (this.#skipThrough !== undefined && compareEventIds(stored.id, this.#skipThrough) <= 0) return;
    if (this.#queue.length >= QUEUE_LIMIT) {
      this.end(`it fell ${QUEUE_LIMIT} events behind`);
      return;
    }
    this.#queue.push(stored);
    this.#wake?.();
  }

  async next(waitMs: number): Promise<StoredFleetEvent[] | undefined> {
    // Each page moves on through a stream of bounded length: at most length/PAGE rounds.
    while (this.#backlog && this.#ended === undefined) {
      const { after, until } = this.#backlog;
      const page = await this.#log.range(after, until, PAGE);
      const last = page.at(-1);
      this.#backlog = page.length < PAGE || !last ? undefined : { after: last.id, until };
      const accepted = page.filter((stored) => this.#accepts(stored.event));
      if (accepted.length > 0) return accepted;
    }
    if (this.#ended !== undefined) return undefined;
    if (this.#queue.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    if (this.#ended !== undefined) return undefined;
    return this.#queue.splice(0);
  }

  onEnd(listener: (reason: string) => void): void {
    if (this.#ended !== undefined) listener(this.#ended);
    else this.#endListeners.push(listener);
  }

  close(): void {
    this.end('closed by its reader');
  }

  end(reason: string): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    this.#queue.length = 0;
    this.#onClose();
    this.#wake?.();
    for (const listener of this.#endListeners.splice(0)) listener(reason);
  }
}
